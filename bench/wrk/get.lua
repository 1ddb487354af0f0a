-- GET keys KEYPREFIX0 .. KEYPREFIX(N-1), written beforehand (seed.lua), uniformly at random.
-- wrk -s bench/wrk/get.lua URL -- PATH_PREFIX KEYPREFIX N
local common = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
local reqs = {}
local nreqs = 0
local i = 0

setup = common.setup

function init(args)
  local prefix, keyprefix, n = args[1], args[2], tonumber(args[3])
  common.seed()
  -- Pre-built requests (wrk's advice for fast servers): up to 65536 random keys per thread.
  nreqs = math.min(65536, math.max(n * 2, 1024))
  for j = 1, nreqs do
    reqs[j] = wrk.format("GET", string.format("%s%s%d", prefix, keyprefix, math.random(0, n - 1)))
  end
end

function request()
  i = i % nreqs + 1
  return reqs[i]
end

function done(summary, latency, requests)
  common.done(summary, latency)
end
