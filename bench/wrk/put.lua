-- PUT a fixed-size body under a fresh key per request.
-- wrk -s bench/wrk/put.lua URL -- PATH_PREFIX SIZE
--   PATH_PREFIX: e.g. /v1/objects/bench/org=1/ (Blobhouse), /bench/org=1/ (S3 bucket, WebDAV)
local common = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
local prefix, body, run
local counter = 0
local headers = {["Content-Type"] = "application/octet-stream"}

setup = common.setup

function init(args)
  prefix = args[1]
  body = string.rep("x", tonumber(args[2]))
  common.seed()
  run = string.format("p%08x-%d", math.random(0, 0x7fffffff), tid or 0)
end

function request()
  counter = counter + 1
  return wrk.format("PUT", string.format("%s%s-%d", prefix, run, counter), headers, body)
end

function done(summary, latency, requests)
  common.done(summary, latency)
end
