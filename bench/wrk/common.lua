-- Shared helpers for the wrk scripts in this folder (loaded with dofile by each script).
-- setup() numbers the threads (global `tid` in each thread); done() prints one line
--   BENCHJSON {...}
-- with wrk's totals, error counts and latency percentiles (microseconds) for bench/run.py,
-- plus the sum over threads of any per-thread counters a script names.
local M = {}
local threads = {}

function M.setup(thread)
  thread:set("tid", #threads)
  threads[#threads + 1] = thread
end

function M.done(summary, latency, counters)
  local e = summary.errors
  local parts = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"bytes_read":%d', summary.bytes),
    string.format('"err_connect":%d', e.connect),
    string.format('"err_read":%d', e.read),
    string.format('"err_write":%d', e.write),
    string.format('"err_status":%d', e.status),
    string.format('"err_timeout":%d', e.timeout),
    string.format('"lat_mean_us":%.1f', latency.mean),
    string.format('"lat_max_us":%d', latency.max),
  }
  for _, p in ipairs({50, 90, 99, 99.9}) do
    local name = (tostring(p):gsub("%.", "_"))
    parts[#parts + 1] = string.format('"p%s_us":%d', name, latency:percentile(p))
  end
  for _, name in ipairs(counters or {}) do
    local total = 0
    for _, t in ipairs(threads) do
      total = total + (tonumber(t:get(name)) or 0)
    end
    parts[#parts + 1] = string.format('"%s":%d', name, total)
  end
  io.write("BENCHJSON {" .. table.concat(parts, ",") .. "}\n")
end

-- A seed for math.random that differs per thread and per run.
function M.seed(extra)
  local t = (tid or 0) + 1
  math.randomseed(os.time() * 1000 + t * 7919 + (extra or 0) + tonumber(tostring({}):sub(8), 16) % 100000)
  math.random(); math.random()
end

return M
