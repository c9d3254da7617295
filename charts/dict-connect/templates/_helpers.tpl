{{/*
The chart's name, truncated to the 63 characters a DNS label allows.
*/}}
{{- define "dict-connect.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name. A release whose name already contains the chart's name
is not repeated (release "dict-connect" gives "dict-connect", not "dict-connect-dict-connect").
Component names append a suffix, so this leaves room for the longest one ("-scheduler").
*/}}
{{- define "dict-connect.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "dict-connect.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "dict-connect.labels" -}}
helm.sh/chart: {{ include "dict-connect.chart" . }}
{{ include "dict-connect.selectorLabels" . }}
app.kubernetes.io/version: {{ (default .Chart.AppVersion .Values.image.tag) | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dict-connect
{{- end }}

{{/*
Selector labels of the release (no component).
*/}}
{{- define "dict-connect.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dict-connect.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of a component's objects. Call with (dict "root" $ "component" "api").
*/}}
{{- define "dict-connect.componentLabels" -}}
{{ include "dict-connect.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Selector labels of a component. Call with (dict "root" $ "component" "api").
*/}}
{{- define "dict-connect.componentSelectorLabels" -}}
{{ include "dict-connect.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The ServiceAccount the api, worker and scheduler run as.
*/}}
{{- define "dict-connect.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dict-connect.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The container image.
*/}}
{{- define "dict-connect.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Settings that have no safe default: fail the render with a clear message.
*/}}
{{- define "dict-connect.validate" -}}
{{- $ispb := required "participant.ispb is required: our ISPB, 8 digits" .Values.participant.ispb | toString }}
{{- if not (regexMatch "^[0-9]{8}$" $ispb) }}
{{- fail (printf "participant.ispb must be 8 digits, got %q (quote it in YAML: leading zeros)" $ispb) }}
{{- end }}
{{- $category := .Values.participant.category | toString | upper }}
{{- if not (regexMatch "^[A-H]$" $category) }}
{{- fail (printf "participant.category must be our rate-limit category as the BCB assigned it, A to H, got %q" (.Values.participant.category | toString)) }}
{{- end }}
{{- $_ := required "bridge.address is required: host:port of the gRPC bridge to the DICT" .Values.bridge.address }}
{{- if .Values.bridge.tls.enabled }}
{{- $_ := required "bridge.tls.caSecret is required while bridge.tls.enabled (or set bridge.tls.enabled=false for a plaintext bridge)" .Values.bridge.tls.caSecret }}
{{- end }}
{{- if and .Values.bridge.tls.requireClientCert (not (and .Values.bridge.tls.enabled .Values.bridge.tls.clientCertSecret)) }}
{{- fail "bridge.tls.requireClientCert: mutual TLS to the bridge needs bridge.tls.enabled and bridge.tls.clientCertSecret (a kubernetes.io/tls Secret with our client certificate)" }}
{{- end }}
{{- if and .Values.networkPolicy.enabled (not (include "dict-connect.bridgePort" .)) }}
{{- fail (printf "bridge.address must end in :port for the NetworkPolicy's egress to the bridge, got %q" .Values.bridge.address) }}
{{- end }}
{{- end }}

{{/*
The port of bridge.address (host:port), empty when it names none.
*/}}
{{- define "dict-connect.bridgePort" -}}
{{- regexFind ":[0-9]+$" .Values.bridge.address | trimPrefix ":" }}
{{- end }}

{{/*
Environment common to every container: app/settings.py, one variable each.
*/}}
{{- define "dict-connect.env" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.urlKey }}
- name: DB_POOL_MIN
  value: {{ .Values.database.pool.min | quote }}
- name: DB_POOL_MAX
  value: {{ .Values.database.pool.max | quote }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.urlKey }}
- name: API_KEY_PEPPER
  valueFrom:
    secretKeyRef:
      name: {{ .Values.apiKeyPepper.existingSecret }}
      key: {{ .Values.apiKeyPepper.key }}
- name: PARTICIPANT_ISPB
  value: {{ .Values.participant.ispb | toString | quote }}
- name: PARTICIPANT_CATEGORY
  value: {{ .Values.participant.category | toString | upper | quote }}
- name: BRIDGE_ADDRESS
  value: {{ .Values.bridge.address | quote }}
- name: BRIDGE_TIMEOUT_S
  value: {{ .Values.bridge.timeoutSeconds | quote }}
- name: BRIDGE_BREAKER_FAIL_MAX
  value: {{ .Values.bridge.breaker.failMax | quote }}
- name: BRIDGE_BREAKER_RESET_S
  value: {{ .Values.bridge.breaker.resetSeconds | quote }}
- name: SYNC_DAILY_AT
  value: {{ .Values.sync.dailyAt | quote }}
- name: SYNC_TIMEZONE
  value: {{ .Values.sync.timezone | quote }}
- name: SYNC_CATCH_UP_AFTER_H
  value: {{ .Values.sync.catchUpAfterHours | quote }}
- name: SYNC_RETRY_GAP_MIN
  value: {{ .Values.sync.retryGapMinutes | quote }}
- name: SYNC_APPROVAL_THRESHOLD
  value: {{ .Values.sync.approvalThreshold | quote }}
- name: SYNC_EVENTS_WINDOW_H
  value: {{ .Values.sync.eventsWindowHours | quote }}
- name: SYNC_EVENTS_MAX_PAGES
  value: {{ .Values.sync.eventsMaxPages | quote }}
- name: SYNC_RECHECKS
  value: {{ .Values.sync.rechecks | quote }}
- name: SYNC_RECHECK_AFTER_S
  value: {{ .Values.sync.recheckAfterSeconds | quote }}
- name: SYNC_FILE_TIMEOUT_S
  value: {{ .Values.sync.fileTimeoutSeconds | quote }}
- name: LOOKUP_TIMEOUT_S
  value: {{ .Values.lookups.timeoutSeconds | quote }}
- name: LOOKUP_PAYMENT_WINDOW_S
  value: {{ .Values.lookups.paymentWindowSeconds | quote }}
- name: LOOKUP_OWN_CHECK_TIMEOUT_S
  value: {{ .Values.lookups.ownCheckTimeoutSeconds | quote }}
- name: LOOKUP_PAYER_MIN_LOOKUPS
  value: {{ .Values.lookups.payerMinLookups | quote }}
- name: REFUND_ANALYSIS_HOURS
  value: {{ .Values.med.refundAnalysisHours | quote }}
- name: RATE_LIMIT_POLL_S
  value: {{ .Values.rateLimits.pollSeconds | quote }}
- name: RATE_LIMIT_RETENTION_MONTHS
  value: {{ .Values.rateLimits.retentionMonths | quote }}
- name: HISTORY_RETENTION_MONTHS
  value: {{ .Values.history.retentionMonths | quote }}
- name: HISTORY_ARCHIVE_MONTHS
  value: {{ .Values.history.archiveMonths | quote }}
- name: EVENT_RETENTION_DAYS
  value: {{ .Values.events.retentionDays | quote }}
- name: OUTBOX_RETENTION_DAYS
  value: {{ .Values.outbox.retentionDays | quote }}
- name: OUTBOX_ARCHIVE_MONTHS
  value: {{ .Values.outbox.archiveMonths | quote }}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Bridge TLS: the environment, mounts and volumes of the containers that call the
bridge (api for key lookups, worker). The CA and our key pair come from
Secrets only, projected read-only. The scheduler and the migrations never call the
bridge, so they do not get the private key.
*/}}
{{- define "dict-connect.bridgeTls.mountPath" -}}
/etc/dict-connect/bridge-tls
{{- end }}

{{- define "dict-connect.bridgeTls.env" -}}
{{- $dir := include "dict-connect.bridgeTls.mountPath" . -}}
{{- if .Values.bridge.tls.enabled -}}
- name: BRIDGE_CA_FILE
  value: {{ printf "%s/ca.crt" $dir }}
{{- if .Values.bridge.tls.clientCertSecret }}
- name: BRIDGE_CERT_FILE
  value: {{ printf "%s/tls.crt" $dir }}
- name: BRIDGE_KEY_FILE
  value: {{ printf "%s/tls.key" $dir }}
{{- end }}
{{- end }}
{{- end }}

{{- define "dict-connect.bridgeTls.volumeMounts" -}}
{{- if .Values.bridge.tls.enabled -}}
- name: bridge-tls
  mountPath: {{ include "dict-connect.bridgeTls.mountPath" . }}
  readOnly: true
{{- end }}
{{- end }}

{{- define "dict-connect.bridgeTls.volumes" -}}
{{- if .Values.bridge.tls.enabled -}}
- name: bridge-tls
  projected:
    defaultMode: 0440
    sources:
      - secret:
          name: {{ .Values.bridge.tls.caSecret }}
          items:
            - key: {{ .Values.bridge.tls.caKey }}
              path: ca.crt
      {{- with .Values.bridge.tls.clientCertSecret }}
      - secret:
          name: {{ . }}
          items:
            - key: tls.crt
              path: tls.crt
            - key: tls.key
              path: tls.key
      {{- end }}
{{- end }}
{{- end }}

{{/*
The pod-level settings every workload shares.
*/}}
{{- define "dict-connect.podSpecCommon" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Scheduling of a component. Call with the component's values (.Values.api, …);
missing keys mean no constraint.
*/}}
{{- define "dict-connect.scheduling" -}}
{{- with get . "nodeSelector" }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with get . "affinity" }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with get . "tolerations" }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with get . "topologySpreadConstraints" }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The PromQL label matchers selecting this release's series.
*/}}
{{- define "dict-connect.promSelector" -}}
namespace="{{ .Release.Namespace }}",job=~"{{ include "dict-connect.fullname" . }}-(api|worker|scheduler)"
{{- end }}

{{/*
A runbook_url annotation, when metrics.prometheusRule.runbookBaseUrl is set.
Call with (list $ "outbox.md#is-anything-stuck").
*/}}
{{- define "dict-connect.runbookUrl" -}}
{{- $root := index . 0 }}
{{- with $root.Values.metrics.prometheusRule.runbookBaseUrl }}
runbook_url: {{ printf "%s/%s" (trimSuffix "/" .) (index $ 1) | quote }}
{{- end }}
{{- end }}
