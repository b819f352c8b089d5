-- wrk script: POST batches of events, each request to the next of the bench's sessions, every event_id unique.
-- Arguments (after --): sessions file ("<session id> <ingest token>" per line), batch size, run nonce (hex).
local thread_counter = 0

function setup(thread)
  thread:set("thread_number", thread_counter)
  thread_counter = thread_counter + 1
end

local sessions = {}
local batch = 100
local nonce = 0
local sent = 0

function init(args)
  for line in io.lines(args[1]) do
    local id, token = line:match("^(%S+) (%S+)$")
    sessions[#sessions + 1] = { path = "/api/v1/sessions/" .. id .. "/events", auth = "Bearer " .. token }
  end
  batch = tonumber(args[2])
  nonce = tonumber(args[3], 16)
end

local client_ts = os.date("!%Y-%m-%dT%H:%M:%SZ")

function request()
  local session = sessions[(sent % #sessions) + 1]
  local parts = {}
  for i = 1, batch do
    local kind, slide = "heartbeat", math.floor(i / 10) % 20
    if i % 10 == 1 then kind = "slide_enter" end
    -- thread, request and position make the id unique within a run; the nonce makes runs distinct.
    parts[i] = string.format(
      '{"event_id":"%08x-%04x-4000-8000-%012x","type":"%s","slide_index":%d,"client_ts":"%s"}',
      nonce, thread_number, sent * batch + i, kind, slide, client_ts)
  end
  sent = sent + 1
  local body = '{"events":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", session.path, { ["Content-Type"] = "application/json", ["Authorization"] = session.auth }, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
