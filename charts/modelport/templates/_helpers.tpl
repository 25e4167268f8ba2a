{{- define "modelport.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "modelport.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "modelport.labels" -}}
app.kubernetes.io/name: {{ include "modelport.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "modelport.selector" -}}
app.kubernetes.io/name: {{ include "modelport.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "modelport.serviceAccountName" -}}
{{- default (include "modelport.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "modelport.webServiceAccountName" -}}
{{- default (printf "%s-web" (include "modelport.serviceAccountName" .)) .Values.serviceAccount.webName -}}
{{- end -}}

{{/* The ClusterRoles the portal binds in each team namespace (never cluster-wide). */}}
{{- define "modelport.teamRole" -}}
{{- printf "%s-team" (include "modelport.fullname" .) -}}
{{- end -}}

{{- define "modelport.teamViewRole" -}}
{{- printf "%s-team-view" (include "modelport.fullname" .) -}}
{{- end -}}

{{/* KUBE_TEAM_ROLE_BINDINGS: <ClusterRole>=<namespace>/<ServiceAccount>, comma-separated. */}}
{{- define "modelport.teamRoleBindings" -}}
{{- if .Values.rbac.create -}}
{{- $bindings := list (printf "%s=%s/%s" (include "modelport.teamRole" .) .Release.Namespace (include "modelport.serviceAccountName" .)) -}}
{{- if .Values.web.clusterAccess -}}
{{- $bindings = append $bindings (printf "%s=%s/%s" (include "modelport.teamViewRole" .) .Release.Namespace (include "modelport.webServiceAccountName" .)) -}}
{{- end -}}
{{- join "," $bindings -}}
{{- end -}}
{{- end -}}

{{/* The NodeClass the GPU NodePools reference (karpenter.nodePools.nodeClass), as YAML:
     group, resource, name (deployments/nodepools/manifests.py NODE_CLASS_NAME). */}}
{{- define "modelport.karpenterNodeClass" -}}
{{- $kind := .Values.karpenter.nodePools.nodeClass -}}
{{- if eq $kind "ec2" -}}
{group: karpenter.k8s.aws, resource: ec2nodeclasses, name: modelport-gpu}
{{- else if eq $kind "kwok" -}}
{group: karpenter.kwok.sh, resource: kwoknodeclasses, name: modelport-gpu}
{{- else -}}
{{- fail (printf "karpenter.nodePools.nodeClass must be ec2 or kwok, not %q" (toString $kind)) -}}
{{- end -}}
{{- end -}}

{{- define "modelport.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "modelport.secret" -}}
{{- required "existingSecret: name a Secret with SECRET_KEY, DATABASE_URL and CELERY_BROKER_URL" .Values.existingSecret -}}
{{- end -}}

{{/* The environment of every ModelPort container: values.config + what the chart fixes
     (a list of env items), then every key of the existing Secret (envFrom). */}}
{{- define "modelport.envVars" -}}
- name: MODELPORT_ENV
  value: production
- name: KUBE_IN_CLUSTER
  value: "true"
# Kubelet probes and Prometheus scrapes address the pod by its IP: Django must accept it.
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: KUBE_TEAM_ROLE_BINDINGS
  value: {{ include "modelport.teamRoleBindings" . | quote }}
- name: ALLOWED_HOSTS
  value: {{ printf "%s,$(POD_IP)" (required "config.ALLOWED_HOSTS: the portal's host names" .Values.config.ALLOWED_HOSTS) | quote }}
{{- if and .Values.statusWatcher.enabled (not (hasKey .Values.config "STATUS_SYNC_SECONDS")) }}
# The status watcher records changes as they happen: the periodic syncs are a safety net.
- name: STATUS_SYNC_SECONDS
  value: {{ .Values.statusWatcher.resyncSeconds | quote }}
{{- end }}
{{- with .Values.karpenter.nodePools }}
# The GPU node pools (values karpenter.nodePools, never config: the chart grants their RBAC).
- name: KARPENTER_NODEPOOLS
  value: {{ .enabled | toString | quote }}
{{- if .enabled }}
{{- $_ := include "modelport.karpenterNodeClass" $ }}
- name: KARPENTER_NODE_CLASS
  value: {{ .nodeClass | quote }}
- name: KARPENTER_CLUSTER_NAME
  value: {{ required "karpenter.nodePools.clusterName" .clusterName | quote }}
- name: KARPENTER_NODE_ROLE
  value: {{ required "karpenter.nodePools.nodeRole" .nodeRole | quote }}
- name: KARPENTER_AMI_ALIAS
  value: {{ required "karpenter.nodePools.amiAlias" .amiAlias | quote }}
- name: KARPENTER_ROOT_VOLUME_GIB
  value: {{ required "karpenter.nodePools.rootVolumeGiB" .rootVolumeGiB | toString | quote }}
{{- end }}
{{- end }}
{{- range $name, $value := .Values.config }}
{{- if hasPrefix "KARPENTER_" $name }}
{{- fail (printf "config.%s: set karpenter.nodePools.* instead (the chart grants its RBAC)" $name) }}
{{- end }}
{{- if not (has $name (list "MODELPORT_ENV" "KUBE_IN_CLUSTER" "ALLOWED_HOSTS" "KUBE_TEAM_ROLE_BINDINGS")) }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "modelport.envFrom" -}}
envFrom:
  - secretRef:
      name: {{ include "modelport.secret" . }}
{{- end -}}

{{- define "modelport.podDefaults" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
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
{{- end -}}

{{/* /tmp as memory: the root filesystem is read-only. */}}
{{- define "modelport.tmpVolume" -}}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 64Mi
{{- end -}}
