-- Argo CD health of a storeop Store or StoreDatabase (storeop.dev/v1alpha1), from its kstatus conditions
-- (Stalled, Reconciling, Ready, each with observedGeneration) and its phase.
local hs = { status = "Progressing", message = "Waiting for storeop to report status" }
if obj.status == nil then
  return hs
end
local status = obj.status
local function condition(kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end
local function describe(c)
  if c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  return c.reason
end
local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.message = "Waiting for storeop to observe generation " .. generation
  return hs
end
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  return { status = "Degraded", message = describe(stalled) }
end
local ready = condition("Ready")
if status.phase == "Suspended" then
  return { status = "Suspended", message = "The store is suspended" }
end
if status.phase == "Failed" or status.phase == "Degraded" then
  if ready ~= nil then
    return { status = "Degraded", message = describe(ready) }
  end
  return { status = "Degraded", message = status.message or status.phase }
end
if status.phase == "Ready" and ready ~= nil and ready.status == "True" then
  return { status = "Healthy", message = ready.message or "Ready" }
end
local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  return { status = "Progressing", message = describe(reconciling) }
end
if ready ~= nil then
  return { status = "Progressing", message = describe(ready) }
end
hs.message = "Phase " .. (status.phase or "Pending")
return hs
