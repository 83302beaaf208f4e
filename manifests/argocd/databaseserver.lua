-- Argo CD health of a storeop DatabaseServer (storeop.dev/v1alpha1): Ready is Healthy, a spec storeop
-- cannot use (Stalled) or an unreachable server is Degraded.
local hs = { status = "Progressing", message = "Waiting for storeop to check the server" }
if obj.status == nil or obj.status.phase == nil or obj.status.phase == "Pending" then
  return hs
end
local status = obj.status
local ready = nil
local stalled = nil
if status.conditions ~= nil then
  for _, c in ipairs(status.conditions) do
    if c.type == "Ready" then
      ready = c
    elseif c.type == "Stalled" then
      stalled = c
    end
  end
end
local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.message = "Waiting for storeop to observe generation " .. generation
  return hs
end
if stalled ~= nil and stalled.status == "True" then
  return { status = "Degraded", message = stalled.reason .. ": " .. stalled.message }
end
if status.phase == "Ready" and ready ~= nil and ready.status == "True" then
  return { status = "Healthy", message = status.message or ready.message }
end
return { status = "Degraded", message = status.message or status.phase }
