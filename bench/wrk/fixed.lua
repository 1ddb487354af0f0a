-- GET one fixed path (a server's trivial endpoint).
-- wrk -s bench/wrk/fixed.lua URL -- PATH
local common = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
local req

setup = common.setup

function init(args)
  req = wrk.format("GET", args[1])
end

function request()
  return req
end

function done(summary, latency, requests)
  common.done(summary, latency)
end
