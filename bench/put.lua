-- wrk script: PUT a fixed-size body under a fresh key per request.
-- Usage: wrk -s bench/put.lua http://127.0.0.1:PORT -- SIZE [USECASE]
local counter = 0
local body
local usecase

function init(args)
  local size = tonumber(args[1] or "4096")
  usecase = args[2] or "bench"
  body = string.rep("x", size)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  prefix = string.format("%08x", math.random(0, 0x7fffffff))
end

function request()
  counter = counter + 1
  local path = string.format("/v1/objects/%s/org=1/%s-%d", usecase, prefix, counter)
  return wrk.format("PUT", path, {["Content-Type"] = "application/octet-stream"}, body)
end
