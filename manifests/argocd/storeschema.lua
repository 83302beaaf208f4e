-- Argo CD health of a storeop StoreSchema (storeop.dev/v1alpha1): its rollout's phase. Complete is Healthy,
-- Progressing is Progressing, Paused (awaiting approval, failure budget exceeded) is Suspended, a refused
-- version (Failed, Stalled) is Degraded.
local hs = { status = "Progressing", message = "Waiting for storeop to admit the version" }
if obj.status == nil or obj.status.phase == nil then
  return hs
end
local status = obj.status
local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.message = "Waiting for storeop to observe generation " .. generation
  return hs
end
local message = status.message or status.phase
if status.phase == "Complete" then
  return { status = "Healthy", message = message }
elseif status.phase == "Paused" then
  return { status = "Suspended", message = message }
elseif status.phase == "Failed" then
  return { status = "Degraded", message = message }
end
return { status = "Progressing", message = message }
