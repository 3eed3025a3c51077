-- wrk script for scripts/compare: counts response status codes and, when the environment
-- names a token file, sends each request with the next bearer token from that file, or, when
-- it names a proof file, each request with a DPoP proof of its own.
--
-- Environment:
--   COMPARE_TOKEN_FILE  one token a line; requests rotate through them (each wrk thread
--                       starts at its own offset). Unset: wrk's own static request
--                       (headers given with -H).
--   COMPARE_PROOF_FILE  one DPoP proof a line, for the token COMPARE_DPOP_TOKEN, sent as
--                       "Authorization: DPoP <token>" and "DPoP: <proof>". Thread n of
--                       COMPARE_PROOF_SLICES (the wrk thread count) takes lines n, n + slices,
--                       …: no proof is sent twice. A thread that has used up its slice sends
--                       "DPoP: proofs-exhausted", which the server refuses (401), and counts it.
--   COMPARE_MAX_RESPONSES stop each thread once it has read this many responses (requests
--                       still in flight then are abandoned, not counted).
-- At the end it prints one line, "COMPARE_RESULT {json}", that scripts/compare_run.py reads.

local token_file = os.getenv("COMPARE_TOKEN_FILE")
local proof_file = os.getenv("COMPARE_PROOF_FILE")
local threads = {}

-- Per thread (each thread has its own Lua state).
statuses = {}
exhausted = 0
local requests_by_token = nil
local next_index = 1
local requests_by_proof = nil
local exhausted_request = nil

function setup(thread)
   thread:set("thread_number", #threads)
   table.insert(threads, thread)
end

-- This thread's slice of the proofs, each request formatted once, before the clock starts.
local function load_proofs()
   local token = os.getenv("COMPARE_DPOP_TOKEN") or error("COMPARE_DPOP_TOKEN is not set")
   local slices = tonumber(os.getenv("COMPARE_PROOF_SLICES") or "1")
   local function dpop_request(proof)
      return wrk.format("GET", wrk.path, { Authorization = "DPoP " .. token, DPoP = proof })
   end
   requests_by_proof = {}
   local line_number = 0
   for line in io.lines(proof_file) do
      if #line > 0 then
         if line_number % slices == thread_number then
            requests_by_proof[#requests_by_proof + 1] = dpop_request(line)
         end
         line_number = line_number + 1
      end
   end
   if #requests_by_proof == 0 then
      error("no proof for thread " .. thread_number .. " in " .. proof_file)
   end
   exhausted_request = dpop_request("proofs-exhausted")
end

function init(args)
   if proof_file ~= nil then
      load_proofs()
      return
   end
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

if proof_file ~= nil then
   -- Each proof once, in order; then the refused stand-in, counted.
   function request()
      local req = requests_by_proof[next_index]
      if req == nil then
         exhausted = exhausted + 1
         return exhausted_request
      end
      requests_by_proof[next_index] = false
      next_index = next_index + 1
      return req
   end
elseif token_file ~= nil then
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
   local proofs_exhausted = 0
   for _, thread in ipairs(threads) do
      proofs_exhausted = proofs_exhausted + (thread:get("exhausted") or 0)
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
         .. '"proofs_exhausted":%d,"statuses":{%s}}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      e.connect, e.read, e.write, e.timeout, e.status, proofs_exhausted,
      table.concat(parts, ",")))
end
