-- wrk script: each request carries the next session cookie of the file
-- named by COOKIES (one "name=value" per line), so that the requests of a
-- run are spread over many sessions and users.
local cookies = {}
for line in io.lines(os.getenv("COOKIES")) do
  cookies[#cookies + 1] = line
end
i = 0

function setup(thread)
  -- threads start at different cookies
  thread:set("i", math.random(#cookies))
end

request = function()
  i = i % #cookies + 1
  return wrk.format("GET", nil, { Cookie = cookies[i] })
end
