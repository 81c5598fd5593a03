{{/*
Named templates shared by every manifest. Kept to plain substitution and `if`, so that
test/chart.test.ts can render the chart without the helm binary.
*/}}

{{/* Base name of every object: fullnameOverride, else the release name. */}}
{{- define "netpol-nft.fullname" -}}
{{- if .Values.fullnameOverride }}{{ .Values.fullnameOverride }}{{- else }}{{ .Release.Name }}{{- end }}
{{- end }}

{{/* Labels that select the agent pods; never change them (DaemonSet selectors are immutable). */}}
{{- define "netpol-nft.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end }}

{{/* Labels on every object of the release. */}}
{{- define "netpol-nft.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{/* The agent's ServiceAccount. */}}
{{- define "netpol-nft.serviceAccountName" -}}
{{- if .Values.serviceAccount.name }}{{ .Values.serviceAccount.name }}{{- else }}{{ include "netpol-nft.fullname" . }}{{- end }}
{{- end }}

{{/* The image reference; the tag defaults to the chart's appVersion. */}}
{{- define "netpol-nft.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
