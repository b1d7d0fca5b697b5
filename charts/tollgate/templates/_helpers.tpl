{{/* Chart name, truncated to 63 characters. */}}
{{- define "tollgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name prefix of every resource. */}}
{{- define "tollgate.fullname" -}}
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

{{- define "tollgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "tollgate.labels" -}}
helm.sh/chart: {{ include "tollgate.chart" . }}
app.kubernetes.io/name: {{ include "tollgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tollgate
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: include with (dict "ctx" $ "component" "proxy"). */}}
{{- define "tollgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tollgate.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tollgate.componentLabels" -}}
{{ include "tollgate.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tollgate.image" -}}
{{- $repo := .Values.image.repository }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "tollgate.controller.fullname" -}}
{{- printf "%s-controller" (include "tollgate.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tollgate.proxy.fullname" -}}
{{- printf "%s-proxy" (include "tollgate.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Headless Service through which the controller finds every proxy pod's admin port. */}}
{{- define "tollgate.proxy.configServiceName" -}}
{{- printf "%s-proxy-config" (include "tollgate.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tollgate.controller.serviceAccountName" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- default (include "tollgate.controller.fullname" .) .Values.controller.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.controller.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tollgate.proxy.serviceAccountName" -}}
{{- if .Values.proxy.serviceAccount.create }}
{{- default (include "tollgate.proxy.fullname" .) .Values.proxy.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.proxy.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tollgate.configTokenSecretName" -}}
{{- default (printf "%s-config-token" (include "tollgate.fullname" .)) .Values.configToken.existingSecret }}
{{- end }}

{{- define "tollgate.signingKeysSecretName" -}}
{{- default (printf "%s-signing-keys" (include "tollgate.fullname" .)) .Values.signingKeys.existingSecret }}
{{- end }}

{{- define "tollgate.configTlsSecretName" -}}
{{- default (printf "%s-config-tls" (include "tollgate.fullname" .)) .Values.configTls.existingSecret }}
{{- end }}

{{/* The DNS name the config channel's certificate is for (the controller checks it). */}}
{{- define "tollgate.configTlsServerName" -}}
{{- printf "%s.%s.svc" (include "tollgate.proxy.configServiceName" .) .Release.Namespace }}
{{- end }}

{{- define "tollgate.leaseName" -}}
{{- default (include "tollgate.controller.fullname" .) .Values.controller.leaderElection.leaseName }}
{{- end }}

{{/* Pod-level security context shared by both components. */}}
{{- define "tollgate.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level security context shared by both components. */}}
{{- define "tollgate.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Default affinity: prefer one replica per node. (dict "ctx" $ "component" "proxy" "affinity" ...) */}}
{{- define "tollgate.affinity" -}}
{{- if .affinity }}
{{- toYaml .affinity }}
{{- else -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "tollgate.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 12 }}
{{- end }}
{{- end }}

{{/*
The rules the controller needs wherever it watches resources (cluster-wide in a ClusterRole, or in
each watched namespace in a Role). Keep in sync with the operator's API calls; scripts/rbac_check.py
checks the recorded requests of the end-to-end suite against the rendered rules.
*/}}
{{- define "tollgate.rbac.watchRules" -}}
- apiGroups: ["tollgate.dev"]
  resources: ["consumers", "oauth2credentials", "gatewayroutes", "authplugins"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["tollgate.dev"]
  resources: ["consumers/status", "oauth2credentials/status", "gatewayroutes/status", "authplugins/status"]
  verbs: ["get", "patch", "update"]
# Secrets: list/watch for the labelled ones (credentials, signing keys, config token) and every
# Secret's metadata (no data); get for the certificate Secrets that Gateway listeners and
# Ingresses name without the tollgate.dev/secret label (cert-manager's), read one by one.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["get", "list", "watch"]
# Ingresses of Tollgate's IngressClasses, and their status.loadBalancer (a merge patch).
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses/status"]
  verbs: ["patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if .Values.gatewayAPI.enabled }}
# The Gateway API's namespaced kinds (GatewayClasses are cluster-scoped: tollgate.rbac.gatewayClassRules).
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["gateways", "httproutes", "referencegrants"]
  verbs: ["get", "list", "watch"]
# Gateway statuses by server-side apply, HTTPRoute status.parents by a merge patch.
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["gateways/status", "httproutes/status"]
  verbs: ["patch"]
{{- end }}
{{- if .Values.clientSecrets.generate }}
# Generated client secrets (clientSecrets.generate): a missing Secret is created, a missing key
# added by server-side apply. Names are the credentials' own, so no resourceNames can bound it.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create", "patch"]
{{- end }}
{{- end }}

{{/* GatewayClasses are cluster-scoped: read cluster-wide even in namespaced mode. */}}
{{- define "tollgate.rbac.gatewayClassRules" -}}
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["gatewayclasses"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["gatewayclasses/status"]
  verbs: ["patch"]
{{- end }}

{{- define "tollgate.verifierCacheSecretName" -}}
{{- printf "%s-verifier-cache" (include "tollgate.fullname" .) }}
{{- end }}

{{/* The Secret where the controller keeps the revocations made at the proxies (RFC 7009). */}}
{{- define "tollgate.revocationsSecretName" -}}
{{- printf "%s-revocations" (include "tollgate.fullname" .) }}
{{- end }}
