{{/* Full name: the release name when it already contains the chart name, else "<release>-<chart>". */}}
{{- define "bel.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
One ServiceAccount per process (least privilege): the worker writes, the watcher only reads (and holds its Lease).
Names default to "<fullname>-worker" and "<fullname>-watcher". The former single `serviceAccount.name` is refused
rather than silently ignored.
*/}}
{{- define "bel.checkServiceAccountValues" -}}
{{- if hasKey .Values.serviceAccount "name" -}}
{{- fail "backupentry-lifecycle: serviceAccount.name was split into serviceAccount.worker.name and serviceAccount.watcher.name (one ServiceAccount per process)" -}}
{{- end -}}
{{- end -}}

{{- define "bel.workerServiceAccountName" -}}
{{- include "bel.checkServiceAccountValues" . -}}
{{- default (printf "%s-worker" (include "bel.fullname" .)) .Values.serviceAccount.worker.name -}}
{{- end -}}

{{- define "bel.watcherServiceAccountName" -}}
{{- include "bel.checkServiceAccountValues" . -}}
{{- default (printf "%s-watcher" (include "bel.fullname" .)) .Values.serviceAccount.watcher.name -}}
{{- end -}}

{{/* The user name the API server gives the worker's ServiceAccount (what the admission policy matches on). */}}
{{- define "bel.workerUsername" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "bel.workerServiceAccountName" .) -}}
{{- end -}}

{{- define "bel.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "bel.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bel.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if hasPrefix "sha256:" $tag -}}
{{- printf "%s@%s" .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
The seed's cluster identity: gardener.seed.clusterIdentity, which gardenlet injects into extension charts (the Seed's
status.clusterIdentity), else the clusterIdentity value; rendering fails when neither is set. `index` keeps it
nil-safe when no gardener.* values are given (plain helm install).
*/}}
{{- define "bel.clusterIdentity" -}}
{{- $gardener := index .Values "gardener" | default dict -}}
{{- $seed := index $gardener "seed" | default dict -}}
{{- $id := index $seed "clusterIdentity" | default .Values.clusterIdentity -}}
{{- required "backupentry-lifecycle: no cluster identity (BEL_CLUSTER_IDENTITY). Deployed by Gardener, gardenlet sets gardener.seed.clusterIdentity; otherwise set the value clusterIdentity, unique per seed sharing the Temporal namespace" $id -}}
{{- end -}}

{{/* Environment shared by the worker and the watcher (README "Configuration"). */}}
{{- define "bel.commonEnv" -}}
- name: BEL_CLUSTER_IDENTITY
  value: {{ include "bel.clusterIdentity" . | quote }}
{{- with .Values.taskQueue }}
- name: BEL_TASK_QUEUE
  value: {{ . | quote }}
{{- end }}
- name: BEL_PROVIDER_TYPES
  value: {{ join "," .Values.providerTypes | quote }}
- name: BEL_CLASSES
  value: {{ join "," .Values.classes | quote }}
- name: BEL_DEFAULT_RETENTION
  value: {{ .Values.defaultRetention | quote }}
- name: BEL_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: TEMPORAL_ADDRESS
  value: {{ required "temporal.address is required" .Values.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
{{- include "bel.checkTemporalValues" . }}
{{- if .Values.temporal.apiKey }}
- name: TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "bel.temporalSecretName" . }}
      key: api-key
{{- else if .Values.temporal.apiKeySecret.name }}
- name: TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.temporal.apiKeySecret.name }}
      key: {{ .Values.temporal.apiKeySecret.key }}
{{- end }}
{{- with .Values.temporal.tls }}
{{- if or .enabled .secretName .cert .ca }}
- name: TEMPORAL_TLS
  value: "true"
{{- end }}
{{- if or .secretName .cert }}
- name: TEMPORAL_TLS_CLIENT_CERT_PATH
  value: /etc/backupentry-lifecycle/temporal-tls/tls.crt
- name: TEMPORAL_TLS_CLIENT_KEY_PATH
  value: /etc/backupentry-lifecycle/temporal-tls/tls.key
{{- end }}
{{- if or .secretName .ca }}
- name: TEMPORAL_TLS_SERVER_CA_CERT_PATH
  value: /etc/backupentry-lifecycle/temporal-tls/ca.crt
{{- end }}
{{- with .serverName }}
- name: TEMPORAL_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if .Values.local.enabled }}
- name: BACKUP_LOCAL_DIR
  value: /var/lib/backupentry-lifecycle/local-backupbuckets
- name: BEL_LOCAL_HOST_PATH
  value: {{ .Values.local.hostPath | quote }}
{{- end }}
{{- end -}}

{{/* Pod-level security context: restricted Pod Security Standard. */}}
{{- define "bel.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "bel.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Volumes both pods need: a writable /tmp on a read-only root filesystem, and the Temporal client certificate. */}}
{{- define "bel.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- with .Values.temporal.tls }}
{{- if .secretName }}
- name: temporal-tls
  secret:
    secretName: {{ .secretName }}
{{- else if or .cert .ca }}
- name: temporal-tls
  secret:
    secretName: {{ include "bel.temporalSecretName" $ }}
    items:
      {{- if .cert }}
      - { key: tls.crt, path: tls.crt }
      - { key: tls.key, path: tls.key }
      {{- end }}
      {{- if .ca }}
      - { key: ca.crt, path: ca.crt }
      {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "bel.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if or .Values.temporal.tls.secretName .Values.temporal.tls.cert .Values.temporal.tls.ca }}
- name: temporal-tls
  mountPath: /etc/backupentry-lifecycle/temporal-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "bel.scheduling" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}


{{/*
Temporal credentials given as values (temporal.apiKey, temporal.tls.cert/key/ca) live in this Secret of the release
namespace: under Gardener that namespace is gardenlet's extension-<installation>, unknown before the installation.
*/}}
{{- define "bel.temporalSecretName" -}}
{{- printf "%s-temporal" (include "bel.fullname" .) -}}
{{- end -}}

{{- define "bel.temporalSecretData" -}}
{{- with .Values.temporal.apiKey }}
api-key: {{ . | b64enc }}
{{- end }}
{{- with .Values.temporal.tls.cert }}
tls.crt: {{ . | b64enc }}
{{- end }}
{{- with .Values.temporal.tls.key }}
tls.key: {{ . | b64enc }}
{{- end }}
{{- with .Values.temporal.tls.ca }}
ca.crt: {{ . | b64enc }}
{{- end }}
{{- end -}}

{{- define "bel.checkTemporalValues" -}}
{{- $t := .Values.temporal -}}
{{- if and $t.apiKey $t.apiKeySecret.name -}}
{{- fail "backupentry-lifecycle: set temporal.apiKey or temporal.apiKeySecret.name, not both" -}}
{{- end -}}
{{- if and $t.tls.secretName (or $t.tls.cert $t.tls.key $t.tls.ca) -}}
{{- fail "backupentry-lifecycle: set temporal.tls.secretName or temporal.tls.cert/key/ca, not both" -}}
{{- end -}}
{{- if or (and $t.tls.cert (not $t.tls.key)) (and $t.tls.key (not $t.tls.cert)) -}}
{{- fail "backupentry-lifecycle: temporal.tls.cert and temporal.tls.key go together (the client certificate and its key)" -}}
{{- end -}}
{{- end -}}

{{/*
Gardener's label for a Temporal frontend inside the seed (gardener-resource-manager's NetworkPolicy controller):
networking.resources.gardener.cloud/to-<namespace or alias>-<service>-tcp-<port>. Empty when Temporal is outside
the seed or gardenerLabel is off.
*/}}
{{- define "bel.temporalNetworkLabel" -}}
{{- with .Values.temporal.inCluster -}}
{{- if and .namespace .gardenerLabel -}}
{{- $name := printf "to-%s-%s-tcp-%d" (default .namespace .namespaceAlias) (required "temporal.inCluster.service is required" .service) (int .port) -}}
{{- if gt (len $name) 63 -}}
{{- fail (printf "backupentry-lifecycle: the label name %q is longer than 63 characters; annotate the Temporal Service with networking.resources.gardener.cloud/pod-label-selector-namespace-alias and set temporal.inCluster.namespaceAlias, or use temporal.inCluster.networkPolicy" $name) -}}
{{- end -}}
{{- printf "networking.resources.gardener.cloud/%s" $name -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Pod labels beyond the selector: Gardener's NetworkPolicy labels, the in-seed Temporal label, then podLabels (which win on the same key). */}}
{{- define "bel.podExtraLabels" -}}
{{- $labels := merge (dict) (default (dict) .Values.podLabels) (default (dict) .Values.podNetworkLabels) -}}
{{- with include "bel.temporalNetworkLabel" . -}}
{{- $labels = merge $labels (dict . "allowed") -}}
{{- end -}}
{{- with $labels -}}
{{- toYaml . -}}
{{- end -}}
{{- end -}}

{{/* Deployment labels and annotations for Gardener's High Availability Config webhook; "replicas" is the Deployment's. */}}
{{- define "bel.haLabels" -}}
{{- with .Values.highAvailability.type -}}
high-availability-config.resources.gardener.cloud/type: {{ . }}
{{- end -}}
{{- end -}}

{{/* Pod annotation that rolls the pods when the chart's Temporal Secret changes. */}}
{{- define "bel.temporalSecretChecksum" -}}
{{- with include "bel.temporalSecretData" . -}}
checksum/temporal-secret: {{ . | sha256sum }}
{{- end -}}
{{- end -}}
