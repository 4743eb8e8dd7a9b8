/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * GroveSpecInput:
 * @container_id: the container's ID
 * @sandbox_id: the pod's ID (equal to @container_id for the infra container)
 * @is_infra: %TRUE for the pod's infra container
 * @container_config: the CRI `ContainerConfig` in protobuf's JSON mapping (lowerCamelCase
 *   names, enums as names, int64 as number or string); for the infra container a
 *   synthesised one with `metadata.name` and the pause command
 * @pod_config: the CRI `PodSandboxConfig` in the same mapping
 * @image_config: the OCI image config (the whole JSON document: `config.Env`,
 *   `config.Entrypoint`, `config.Cmd`, `config.WorkingDir`, `config.User`, ...)
 * @image_name: the image as the container asked for it (for annotations)
 * @rootfs: the container's mounted rootfs (absolute)
 * @hostname_path: (nullable): file to bind at /etc/hostname
 * @hosts_path: (nullable): file to bind at /etc/hosts
 * @resolv_path: (nullable): file to bind at /etc/resolv.conf
 * @shm_path: (nullable): the pod's shm tmpfs, bound at /dev/shm (%NULL: the container gets
 *   its own tmpfs)
 * @netns_path: (nullable): the pod's network namespace (%NULL: host network)
 * @userns_path: (nullable): the pod's user namespace, which the container joins (%NULL: the
 *   host's)
 * @id_mappings: (nullable): with @userns_path, its OCI `uidMappings` and `gidMappings`
 * @infra_pid: the infra container's PID, whose IPC, UTS (and PID when shared) namespaces a
 *   container joins; 0 for the infra container itself
 * @cgroups_path: absolute `linux.cgroupsPath`
 * @oom_score_adj_min: the lowest `oom_score_adj` this process may ask for (its own)
 * @nofile_max: the hard RLIMIT_NOFILE this process may grant
 * @seccomp_default: (nullable): the JSON text of the seccomp profile RuntimeDefault means
 *   (%NULL: RuntimeDefault is refused)
 * @seccomp_default_origin: (nullable): where @seccomp_default comes from, for messages
 *
 * Everything the OCI runtime spec of one container is generated from.
 */
typedef struct
{
  const char *container_id;
  const char *sandbox_id;
  gboolean is_infra;
  JsonObject *container_config;
  JsonObject *pod_config;
  JsonObject *image_config;
  const char *image_name;
  const char *rootfs;
  const char *hostname_path;
  const char *hosts_path;
  const char *resolv_path;
  const char *shm_path;
  const char *netns_path;
  const char *userns_path;
  JsonObject *id_mappings;
  int infra_pid;
  const char *cgroups_path;
  int oom_score_adj_min;
  guint64 nofile_max;
  const char *seccomp_default;
  const char *seccomp_default_origin;
} GroveSpecInput;

JsonNode *grove_spec_generate (const GroveSpecInput *input, GError **error);
JsonObject *grove_spec_resources_from_cri (JsonObject *cri_resources, GError **error);
gboolean grove_spec_resolve_user (const char *rootfs, const char *user, guint32 *out_uid,
                                  guint32 *out_gid, GArray **out_additional_gids, GError **error);

#define GROVE_ANNOTATION_CONTAINER_TYPE "io.kubernetes.cri.container-type"
#define GROVE_ANNOTATION_SANDBOX_ID "io.kubernetes.cri.sandbox-id"
#define GROVE_ANNOTATION_SANDBOX_NAME "io.kubernetes.cri.sandbox-name"
#define GROVE_ANNOTATION_SANDBOX_NAMESPACE "io.kubernetes.cri.sandbox-namespace"
#define GROVE_ANNOTATION_SANDBOX_UID "io.kubernetes.cri.sandbox-uid"
#define GROVE_ANNOTATION_CONTAINER_NAME "io.kubernetes.cri.container-name"
#define GROVE_ANNOTATION_IMAGE_NAME "io.kubernetes.cri.image-name"

G_END_DECLS
