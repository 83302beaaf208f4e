{{/* The chart's name (nameOverride wins). */}}
{{- define "storeop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's prefix for object names: the release name alone when it already names the chart. */}}
{{- define "storeop.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "storeop.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* What selects the operator's pods; never changes across upgrades. */}}
{{- define "storeop.selectorLabels" -}}
app.kubernetes.io/name: {{ include "storeop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "storeop.labels" -}}
helm.sh/chart: {{ include "storeop.chart" . }}
{{ include "storeop.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: storeop
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "storeop.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-controller" (include "storeop.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository@digest when a digest is set, else repository:tag (the tag defaults to appVersion). */}}
{{- define "storeop.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "storeop.masterSecretName" -}}
{{- if and .Values.masterSecret.create (not .Values.masterSecret.existingSecret) }}
{{- printf "%s-master" (include "storeop.fullname" .) }}
{{- else }}
{{- .Values.masterSecret.existingSecret }}
{{- end }}
{{- end }}

{{/* The subject every binding grants to: the operator's ServiceAccount. */}}
{{- define "storeop.subject" -}}
- kind: ServiceAccount
  name: {{ include "storeop.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}

{{/* The operator's rules on namespaced objects: Stores, StoreDatabases, their Secrets, events. */}}
{{- define "storeop.namespacedRules" -}}
- apiGroups: ["storeop.dev"]
  resources: ["stores", "storedatabases"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["storeop.dev"]
  resources: ["stores/status", "storedatabases/status"]
  verbs: ["get", "update", "patch"]
- apiGroups: ["storeop.dev"]
  resources: ["stores/finalizers", "storedatabases/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* The operator's rules on the cluster-scoped kinds: it publishes StoreSchemas, reads DatabaseServers. */}}
{{- define "storeop.clusterScopedRules" -}}
- apiGroups: ["storeop.dev"]
  resources: ["storeschemas", "storeschemas/status"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
- apiGroups: ["storeop.dev"]
  resources: ["databaseservers"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["storeop.dev"]
  resources: ["databaseservers/status"]
  verbs: ["get", "update", "patch"]
- apiGroups: ["storeop.dev"]
  resources: ["storeplans"]
  verbs: ["get", "list", "watch"]
{{- end }}

{{/* policy/v1 from Kubernetes 1.21 on; 1.20 has only policy/v1beta1. */}}
{{- define "storeop.pdbApiVersion" -}}
{{- if semverCompare ">=1.21-0" .Capabilities.KubeVersion.Version }}policy/v1{{ else }}policy/v1beta1{{ end }}
{{- end }}
