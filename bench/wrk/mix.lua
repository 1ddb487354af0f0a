-- The upstream stresstest's default shape: 97% writes, 2% reads, 1% deletes, object sizes
-- drawn from a pre-generated table (bench/run.py writes log-normal quantiles, p50 50 KiB,
-- p99 200 KiB, one size a line).  Reads and deletes pick among this thread's live objects,
-- favouring recent ones (quadratic skew, standing in for upstream's zipfian choice) and
-- never the last MARGIN writes, which may still be in flight.
-- wrk -s bench/wrk/mix.lua URL -- PATH_PREFIX SIZES_FILE [MARGIN]
-- Counters `puts`, `gets`, `deletes` and `put_bytes` are summed in done().
local common = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
local prefix, run, margin
local sizes = {}
local big
local keys = {}      -- keys[i] = sequence number of the i-th write of this thread
local dead = {}      -- dead[i] = true once keys[i] was deleted
local seq = 0
local headers = {["Content-Type"] = "application/octet-stream"}
local si = 0
local probed = false
puts, gets, deletes, put_bytes = 0, 0, 0, 0

setup = common.setup

function init(args)
  prefix = args[1]
  local maxsize = 0
  for line in io.lines(args[2]) do
    local s = tonumber(line)
    if s then
      sizes[#sizes + 1] = s
      if s > maxsize then maxsize = s end
    end
  end
  margin = tonumber(args[3] or "64")
  big = string.rep("m", maxsize)
  common.seed()
  run = string.format("m%08x-%d", math.random(0, 0x7fffffff), tid or 0)
  -- Each thread walks the size table from its own random offset.
  si = math.random(0, #sizes - 1)
end

local function pick()
  local eligible = #keys - margin
  if eligible < 1 then return nil end
  for _ = 1, 4 do
    local u = math.random()
    local idx = eligible - math.floor(eligible * u * u)
    if idx >= 1 and not dead[idx] then return idx end
  end
  return nil
end

local function put()
  seq = seq + 1
  keys[#keys + 1] = seq
  si = si % #sizes + 1
  local size = sizes[si]
  puts = puts + 1
  put_bytes = put_bytes + size
  return wrk.format("PUT", string.format("%s%s-%d", prefix, run, seq), headers, big:sub(1, size))
end

function request()
  if not probed then
    probed = true
    -- wrk's script check on thread 0 drops this request: keep it out of the key list.
    if (tid or 0) == 0 then return wrk.format("PUT", prefix .. run .. "-probe", headers, "p") end
  end
  local r = math.random()
  if r < 0.97 then return put() end
  local idx = pick()
  if idx == nil then return put() end
  local path = string.format("%s%s-%d", prefix, run, keys[idx])
  if r < 0.99 then
    gets = gets + 1
    return wrk.format("GET", path)
  end
  dead[idx] = true
  deletes = deletes + 1
  return wrk.format("DELETE", path)
end

function done(summary, latency, requests)
  common.done(summary, latency, {"puts", "gets", "deletes", "put_bytes"})
end
