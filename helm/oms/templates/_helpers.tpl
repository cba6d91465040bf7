{{/* Names */}}
{{- define "oms.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "oms.fullname" -}}
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

{{- define "oms.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "oms.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "oms.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Labels: common ones, and the selector of one component (worker, sink, setup) */}}
{{- define "oms.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "oms.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: oms-stream
{{- end }}

{{- define "oms.selectorLabels" -}}
app.kubernetes.io/name: {{ include "oms.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Kafka security protocol: explicit, or derived from SASL and TLS */}}
{{- define "oms.kafkaSecurityProtocol" -}}
{{- if .Values.kafka.securityProtocol }}
{{- .Values.kafka.securityProtocol }}
{{- else if and .Values.kafka.sasl.enabled .Values.kafka.tls.enabled }}SASL_SSL
{{- else if .Values.kafka.tls.enabled }}SSL
{{- else if .Values.kafka.sasl.enabled }}SASL_PLAINTEXT
{{- else }}PLAINTEXT
{{- end }}
{{- end }}

{{/*
Settings that are not secret, as a map OMS_NAME -> string value: the ConfigMap's data,
and the migration Job's inline env (a pre-install hook runs before the ConfigMap exists).
*/}}
{{- define "oms.settings" -}}
{{- $settings := dict }}
{{- range $key, $value := .Values.config }}
{{- $_ := set $settings (printf "OMS_%s" (upper $key)) (toString $value) }}
{{- end }}
{{- $_ := set $settings "OMS_KAFKA_BOOTSTRAP_SERVERS" (required "kafka.bootstrapServers is required" .Values.kafka.bootstrapServers) }}
{{- $_ := set $settings "OMS_KAFKA_SECURITY_PROTOCOL" (include "oms.kafkaSecurityProtocol" .) }}
{{- if .Values.kafka.sasl.enabled }}
{{- $_ := set $settings "OMS_KAFKA_SASL_MECHANISM" .Values.kafka.sasl.mechanism }}
{{- end }}
{{- if .Values.kafka.tls.enabled }}
{{- $_ := set $settings "OMS_KAFKA_SSL_CAFILE" (printf "%s/%s" .Values.kafka.tls.mountPath .Values.kafka.tls.caKey) }}
{{- if .Values.kafka.tls.clientAuth }}
{{- $_ := set $settings "OMS_KAFKA_SSL_CERTFILE" (printf "%s/%s" .Values.kafka.tls.mountPath .Values.kafka.tls.certKey) }}
{{- $_ := set $settings "OMS_KAFKA_SSL_KEYFILE" (printf "%s/%s" .Values.kafka.tls.mountPath .Values.kafka.tls.keyKey) }}
{{- end }}
{{- end }}
{{- if .Values.schemaRegistry.url }}
{{- $_ := set $settings "OMS_SCHEMA_REGISTRY_URL" .Values.schemaRegistry.url }}
{{- end }}
{{- $_ := set $settings "OMS_WEB_PORT" (toString .Values.worker.webPort) }}
{{- $_ := set $settings "OMS_SINK_METRICS_PORT" (toString .Values.sink.metricsPort) }}
{{- toYaml $settings }}
{{- end }}

{{/* Kafka credentials from an existing Secret: every container */}}
{{- define "oms.kafkaEnv" -}}
{{- if .Values.kafka.sasl.enabled }}
- name: OMS_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ required "kafka.sasl.existingSecret is required when kafka.sasl.enabled" .Values.kafka.sasl.existingSecret }}
      key: {{ .Values.kafka.sasl.usernameKey }}
- name: OMS_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.sasl.existingSecret }}
      key: {{ .Values.kafka.sasl.passwordKey }}
{{- end }}
{{- end }}

{{/*
The ClickHouse URL, with credentials from an existing Secret: the sink and the setup Job
(the workers never talk to ClickHouse). Kubernetes expands $(CLICKHOUSE_USERNAME) from the
variables defined before it, so the password never appears in the pod spec.
*/}}
{{- define "oms.clickhouseEnv" -}}
{{- $url := urlParse (required "clickhouse.url is required" .Values.clickhouse.url) }}
{{- if not (has $url.scheme (list "http" "https")) }}
{{- fail "clickhouse.url must be http(s)://host:port/database" }}
{{- end }}
{{- if $url.userinfo }}
{{- fail "clickhouse.url must not hold credentials: put them in clickhouse.existingSecret" }}
{{- end }}
{{- if .Values.clickhouse.existingSecret }}
- name: CLICKHOUSE_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .Values.clickhouse.existingSecret }}
      key: {{ .Values.clickhouse.usernameKey }}
- name: CLICKHOUSE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.clickhouse.existingSecret }}
      key: {{ .Values.clickhouse.passwordKey }}
- name: OMS_CLICKHOUSE_URL
  value: {{ printf "%s://$(CLICKHOUSE_USERNAME):$(CLICKHOUSE_PASSWORD)@%s%s" $url.scheme $url.host $url.path | quote }}
{{- else }}
- name: OMS_CLICKHOUSE_URL
  value: {{ .Values.clickhouse.url | quote }}
{{- end }}
{{- end }}

{{/* The setup Job's environment: the settings inline, then the Secrets */}}
{{- define "oms.jobEnv" -}}
{{- range $name, $value := include "oms.settings" . | fromYaml }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
- name: OMS_STATE_DIR
  value: /tmp/oms-state
{{- with include "oms.kafkaEnv" . | trim }}
{{ . }}
{{- end }}
{{ include "oms.clickhouseEnv" . | trim }}
{{- end }}

{{/* Volumes every pod has: /tmp, and the Kafka TLS Secret when TLS is on */}}
{{- define "oms.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- if .Values.kafka.tls.enabled }}
- name: kafka-tls
  secret:
    secretName: {{ required "kafka.tls.existingSecret is required when kafka.tls.enabled" .Values.kafka.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{- define "oms.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.tls.enabled }}
- name: kafka-tls
  mountPath: {{ .Values.kafka.tls.mountPath }}
  readOnly: true
{{- end }}
{{- end }}

{{/* Annotation that restarts pods when the settings change */}}
{{- define "oms.configChecksum" -}}
checksum/config: {{ include "oms.settings" . | sha256sum }}
{{- end }}
