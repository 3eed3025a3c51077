-- wrk script for scripts/compare: counts response status codes and, when the environment
-- names a token file, sends each request with the next bearer token from that file.
--
-- Environment:
--   COMPARE_TOKEN_FILE  one token a line; requests rotate through them (each wrk thread
--                       starts at its own offset). Unset: wrk's own static request
--                       (headers given with -H).
--   COMPARE_MAX_RESPONSES stop each thread once it has read this many responses (requests
--                       still in flight then are abandoned, not counted).
-- At the end it prints one line, "COMPARE_RESULT {json}", that scripts/compare_run.py reads.

local token_file = os.getenv("COMPARE_TOKEN_FILE")
local threads = {}

-- Per thread (each thread has its own Lua state).
statuses = {}
local requests_by_token = nil
local next_index = 1

function setup(thread)
   thread:set("thread_number", #threads)
   table.insert(threads, thread)
end

function init(args)
   if token_file == nil then
      return
   end
   requests_by_token = {}
   for line in io.lines(token_file) do
      if #line > 0 then
         requests_by_token[#requests_by_token + 1] =
            wrk.format("GET", wrk.path, { Authorization = "Bearer " .. line })
      end
   end
   if #requests_by_token == 0 then
      error("no token in " .. token_file)
   end
   -- Spread the threads over the list so they do not send the same token at once.
   next_index = (thread_number * 7919) % #requests_by_token + 1
end

if token_file ~= nil then
   -- Only defined when rotating: without it wrk sends one pre-built request.
   function request()
      local req = requests_by_token[next_index]
      next_index = next_index % #requests_by_token + 1
      return req
   end
end

local max_responses = tonumber(os.getenv("COMPARE_MAX_RESPONSES") or "")
local answered = 0

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   answered = answered + 1
   if max_responses ~= nil and answered >= max_responses then
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local merged = {}
   for _, thread in ipairs(threads) do
      local counts = thread:get("statuses")
      for status, count in pairs(counts) do
         merged[status] = (merged[status] or 0) + count
      end
   end
   local parts = {}
   for status, count in pairs(merged) do
      parts[#parts + 1] = string.format('"%d":%d', status, count)
   end
   local e = summary.errors
   io.write(string.format(
      'COMPARE_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},'
         .. '"statuses":{%s}}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      e.connect, e.read, e.write, e.timeout, e.status, table.concat(parts, ",")))
end
