-- wrk script: GET one of N keys written beforehand (bench/seed keys k-0 .. k-N-1).
-- Usage: wrk -s bench/get.lua http://127.0.0.1:PORT -- N [USECASE]
local n
local usecase
local counter = 0

function init(args)
  n = tonumber(args[1] or "100")
  usecase = args[2] or "bench"
end

function request()
  counter = counter + 1
  return wrk.format("GET", string.format("/v1/objects/%s/org=1/k-%d", usecase, counter % n))
end
