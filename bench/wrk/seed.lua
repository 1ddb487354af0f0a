-- Write keys KEYPREFIX<START> .. KEYPREFIX<END-1> exactly once each (SIZE bytes), then stop.
-- wrk -t T -s bench/wrk/seed.lua URL -- PATH_PREFIX KEYPREFIX SIZE START END T
-- Thread `tid` writes START+tid, START+tid+T, ...  Once a thread has handed out all its
-- keys, its idle connections GET a key that does not exist (a 404 marks them, so they are
-- not counted) until every one of its PUTs has been answered; then the thread prints
-- "SEED-THREAD-DONE" and stops.  wrk itself sleeps for its whole -d, so bench/run.py sends
-- it SIGINT once every thread has said so (-d stays the time bound).
-- Counters `ok` (2xx PUTs) and `failed` (other PUT answers) are summed in done().
-- wrk calls request() once on thread 0 before the run to check the script, and drops that
-- request: thread 0 answers that first call with the 404 probe, so no key is lost.
local common = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
local prefix, keyprefix, body, nthreads
local nextkey, stopkey
local assigned = 0
local dummy
local probed = false
local finished = false
ok = 0
failed = 0

setup = common.setup

function init(args)
  prefix, keyprefix = args[1], args[2]
  body = string.rep("s", tonumber(args[3]))
  local first, last = tonumber(args[4]), tonumber(args[5])
  nthreads = tonumber(args[6])
  nextkey = first + (tid or 0)
  stopkey = last
  for k = nextkey, last - 1, nthreads do assigned = assigned + 1 end
  dummy = wrk.format("GET", prefix .. "__seed-absent__")
end

local function finish()
  io.write("SEED-THREAD-DONE\n")
  io.flush()
  wrk.thread:stop()
end

function request()
  if not probed then
    probed = true
    if (tid or 0) == 0 then return dummy end
  end
  if nextkey < stopkey then
    local k = nextkey
    nextkey = nextkey + nthreads
    return wrk.format("PUT", string.format("%s%s%d", prefix, keyprefix, k), nil, body)
  end
  if assigned == 0 and not finished then finished = true; finish() end
  return dummy
end

function response(status, headers, body)
  if status == 404 then return end
  if status < 300 then ok = ok + 1 else failed = failed + 1 end
  if ok + failed >= assigned and not finished then finished = true; finish() end
end

function done(summary, latency, requests)
  common.done(summary, latency, {"ok", "failed"})
end
