/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveEngine"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "grove-engine-private.h"
#include "grove-netns.h"
#include "grove-spec.h"
#include "grove-userns.h"
#include "grove-utils.h"

/*
 * Pods: RunPodSandbox, StopPodSandbox, RemovePodSandbox. A pod is its dirs (pods/<id>/ with
 * pod.json, hostname, hosts, resolv.conf; containers/<id>/ with the infra container's
 * config.json), its network namespace (made before the infra container, bind-mounted so
 * it outlives it), its /dev/shm, and its infra container, which has the pod's ID.
 */

#define SHM_SIZE (64 * 1024 * 1024)
#define STOP_WAIT_SECONDS 10

static const char *
namespace_mode (JsonObject *config, const char *which)
{
  JsonObject *linux_ = grove_record_object (config, "linux");
  JsonObject *security = grove_record_object (linux_, "securityContext");
  JsonObject *options = grove_record_object (security, "namespaceOptions");
  JsonNode *node = options ? json_object_get_member (options, which) : NULL;
  static const char *const names[] = { "POD", "CONTAINER", "NODE", "TARGET" };

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return "POD";
  if (json_node_get_value_type (node) == G_TYPE_STRING)
    return json_node_get_string (node);
  if (json_node_get_value_type (node) == G_TYPE_INT64 && json_node_get_int (node) >= 0
      && json_node_get_int (node) < 4)
    return names[json_node_get_int (node)];
  return "POD";
}

static gboolean
pod_privileged (JsonObject *config)
{
  JsonObject *linux_ = grove_record_object (config, "linux");
  return grove_record_bool (grove_record_object (linux_, "securityContext"), "privileged");
}

static gboolean
validate_pod_config (JsonObject *config, GError **error)
{
  const char *const required[] = { "metadata.name", "metadata.namespace", "metadata.uid", NULL };

  for (guint i = 0; required[i] != NULL; i++)
    {
      const char *value = grove_record_path_string (config, required[i]);
      if (value == NULL || *value == '\0')
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "the pod config needs %s",
                            required[i]);
    }
  return TRUE;
}

static char *
pod_hostname (JsonObject *config)
{
  const char *hostname = grove_record_string (config, "hostname");

  if (hostname == NULL || *hostname == '\0')
    hostname = grove_record_path_string (config, "metadata.name");
  return g_strndup (hostname, 63);
}

static gboolean
write_text (const char *dir, const char *name, const char *text, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  return grove_write_file_at (AT_FDCWD, path, text, strlen (text), 0644, error);
}

static void
append_strings (GString *out, const char *prefix, JsonArray *array, const char *separator)
{
  if (array == NULL || json_array_get_length (array) == 0)
    return;
  g_string_append (out, prefix);
  for (guint i = 0; i < json_array_get_length (array); i++)
    g_string_append_printf (out, "%s%s", i ? separator : "",
                            json_array_get_string_element (array, i));
  g_string_append_c (out, '\n');
}

/* /etc/hostname, /etc/hosts and /etc/resolv.conf, shared by the pod's containers */
static gboolean
write_pod_files (const char *dir, JsonObject *config, gboolean host_network, GError **error)
{
  g_autofree char *hostname = pod_hostname (config);
  g_autofree char *host_name = g_strdup (g_get_host_name ());
  g_autofree char *hosts = NULL;
  g_autoptr (GString) resolv = g_string_new ("");
  JsonObject *dns = grove_record_object (config, "dnsConfig");
  JsonNode *servers = dns ? json_object_get_member (dns, "servers") : NULL;
  const char *name = host_network ? host_name : hostname;

  hosts = g_strdup_printf ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                           "127.0.1.1\t%s\n",
                           name);
  if (servers != NULL && JSON_NODE_HOLDS_ARRAY (servers))
    {
      JsonNode *searches = json_object_get_member (dns, "searches");
      JsonNode *options = json_object_get_member (dns, "options");
      append_strings (resolv, "search ", searches ? json_node_get_array (searches) : NULL, " ");
      for (guint i = 0; i < json_array_get_length (json_node_get_array (servers)); i++)
        g_string_append_printf (resolv, "nameserver %s\n",
                                json_array_get_string_element (json_node_get_array (servers), i));
      append_strings (resolv, "options ", options ? json_node_get_array (options) : NULL, " ");
    }
  else
    {
      /* no DNS config: what the host uses */
      g_autofree char *host_resolv = NULL;
      if (g_file_get_contents ("/etc/resolv.conf", &host_resolv, NULL, NULL))
        g_string_append (resolv, host_resolv);
    }
  g_autofree char *hostname_line = g_strconcat (name, "\n", NULL);

  return write_text (dir, "hostname", hostname_line, error)
         && write_text (dir, "hosts", hosts, error)
         && write_text (dir, "resolv.conf", resolv->str, error);
}

/* undoes whatever of a pod exists; every step is safe to repeat */
gboolean
grove_pod_cleanup_work (GroveEngine *self, GroveOciRuntime *runtime, JsonObject *record,
                        GCancellable *cancellable, GError **error)
{
  const char *id = grove_record_string (record, "id");
  const char *netns = grove_record_string (record, "netnsPath");
  const char *shm = grove_record_string (record, "shmPath");
  const char *userns = grove_record_string (record, "usernsPath");
  g_autofree char *pod_dir = grove_engine_pod_dir (self, id);
  g_autofree char *container_dir = grove_engine_container_dir (self, id);
  g_autofree char *run_dir = grove_engine_run_dir (self, id);
  g_autofree char *pod_run_dir = g_build_filename (self->runroot, "pods", id, NULL);
  g_autofree char *exit_path = g_build_filename (self->exit_dir, id, NULL);
  g_autoptr (GError) local_error = NULL;

  if (runtime != NULL && !grove_runtime_delete_sync (runtime, id, cancellable, &local_error))
    g_warning ("deleting infra container %s: %s", id, local_error->message);
  if (!grove_store_release_rootfs (self->store, id, cancellable, error)
      || !grove_engine_release_idmapped_mounts (self, id, error)
      || (shm != NULL && !grove_shm_unmount (shm, error))
      || !grove_pod_network_detach (self, record, cancellable, error)
      || (netns != NULL && !grove_netns_remove (netns, error))
      || (userns != NULL && !grove_userns_remove (userns, error)))
    return FALSE;
  unlink (exit_path);
  return grove_rm_rf_at (AT_FDCWD, run_dir, cancellable, error)
         && grove_rm_rf_at (AT_FDCWD, pod_run_dir, cancellable, error)
         && grove_rm_rf_at (AT_FDCWD, container_dir, cancellable, error)
         && grove_rm_rf_at (AT_FDCWD, pod_dir, cancellable, error);
}

static JsonObject *
infra_container_config (JsonObject *pod_config)
{
  JsonObject *config = json_object_new ();
  JsonObject *metadata = json_object_new ();
  JsonArray *command = json_array_new ();
  JsonObject *linux_ = grove_record_object (pod_config, "linux");
  JsonObject *security = grove_record_object (linux_, "securityContext");
  JsonObject *container_linux = json_object_new ();
  JsonObject *container_security = json_object_new ();

  json_object_set_string_member (metadata, "name", "POD");
  json_object_set_object_member (config, "metadata", metadata);
  json_array_add_string_element (command, "/grove-pause");
  json_object_set_array_member (config, "command", command);
  json_object_set_boolean_member (container_security, "privileged",
                                  grove_record_bool (security, "privileged"));
  /* the pod's seccomp profile confines its infra container */
  if (grove_record_object (security, "seccomp") != NULL)
    json_object_set_object_member (container_security, "seccomp",
                                   json_object_ref (grove_record_object (security, "seccomp")));
  if (grove_record_string (security, "seccompProfilePath") != NULL)
    json_object_set_string_member (container_security, "seccompProfilePath",
                                   grove_record_string (security, "seccompProfilePath"));
  json_object_set_object_member (container_linux, "securityContext", container_security);
  json_object_set_object_member (config, "linux", container_linux);
  return config;
}

static char *
cgroups_path (GroveEngine *self, JsonObject *pod_config, const char *id)
{
  const char *parent
      = grove_record_string (grove_record_object (pod_config, "linux"), "cgroupParent");

  if (parent == NULL || *parent != '/')
    parent = self->cgroup_parent;
  return g_strdup_printf ("%s/grove-%s", g_str_equal (parent, "/") ? "" : parent, id);
}

/**
 * grove_engine_write_spec: (skip)
 *
 * Generates the OCI spec of a container of the pod in @pod_record and writes it to
 * containers/<id>/config.json.
 */
gboolean
grove_engine_write_spec (GroveEngine *self, JsonObject *pod_record, const char *id,
                         JsonObject *container_config, GroveImage *image, const char *image_name,
                         const char *rootfs, GError **error)
{
  const char *pod_id = grove_record_string (pod_record, "id");
  gboolean is_infra = g_strcmp0 (id, pod_id) == 0;
  g_autofree char *pod_dir = grove_engine_pod_dir (self, pod_id);
  g_autofree char *container_dir = grove_engine_container_dir (self, id);
  g_autofree char *hostname_path = g_build_filename (pod_dir, "hostname", NULL);
  g_autofree char *hosts_path = g_build_filename (pod_dir, "hosts", NULL);
  g_autofree char *resolv_path = g_build_filename (pod_dir, "resolv.conf", NULL);
  g_autofree char *cgroups = cgroups_path (self, grove_record_object (pod_record, "config"), id);
  GBytes *config_bytes = grove_image_get_config (image);
  g_autoptr (JsonObject) image_config
      = grove_record_parse (g_bytes_get_data (config_bytes, NULL), g_bytes_get_size (config_bytes),
                            "image config", error);
  g_autoptr (JsonNode) spec = NULL;
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree char *text = NULL;
  g_autofree char *spec_path = g_build_filename (container_dir, "config.json", NULL);
  gsize length = 0;
  GroveSpecInput input = {
    .container_id = id,
    .sandbox_id = pod_id,
    .is_infra = is_infra,
    .container_config = container_config,
    .pod_config = grove_record_object (pod_record, "config"),
    .image_name = image_name,
    .rootfs = rootfs,
    .hostname_path = hostname_path,
    .hosts_path = hosts_path,
    .resolv_path = resolv_path,
    .shm_path = grove_record_string (pod_record, "shmPath"),
    .netns_path = grove_record_string (pod_record, "netnsPath"),
    .userns_path = grove_record_string (pod_record, "usernsPath"),
    .id_mappings = grove_record_object (pod_record, "idMappings"),
    .infra_pid = is_infra ? 0 : (int)grove_record_int (pod_record, "infraPid", 0),
    .cgroups_path = cgroups,
    .oom_score_adj_min = self->oom_score_adj_min,
    .nofile_max = self->nofile_max,
    .seccomp_default = self->seccomp_default,
    .seccomp_default_origin = self->seccomp_origin,
  };

  if (image_config == NULL)
    return FALSE;
  input.image_config = image_config;
  spec = grove_spec_generate (&input, error);
  if (spec == NULL
      || !grove_engine_idmap_spec_mounts (self, pod_record, id, json_node_get_object (spec), error))
    return FALSE;
  json_generator_set_pretty (generator, TRUE);
  json_generator_set_root (generator, spec);
  text = json_generator_to_data (generator, &length);
  return grove_mkdir_p_at (AT_FDCWD, container_dir, 0700, error)
         && grove_write_file_at (AT_FDCWD, spec_path, text, length, 0600, error);
}

/* the infra container: pause image rootfs, spec, conmon + create, start */
static gboolean
start_infra (GroveJob *job, GCancellable *cancellable, GError **error)
{
  GroveEngine *self = job->engine;
  const char *id = job->id;
  g_autofree char *pause_image = grove_pause_image_ensure (self, cancellable, error);
  g_autoptr (GroveImage) image = NULL;
  g_autofree char *rootfs = NULL;
  g_autoptr (JsonObject) infra_config = infra_container_config (job->config);
  g_autofree char *bundle = grove_engine_container_dir (self, id);
  g_autofree char *run_dir = grove_engine_run_dir (self, id);
  g_autofree char *log_path = g_build_filename (run_dir, "pause.log", NULL);
  GroveCreateOptions options
      = { id, bundle, run_dir, self->exit_dir, log_path, FALSE, FALSE, FALSE };
  int pid = 0;
  int conmon_pid = 0;

  if (pause_image == NULL)
    return FALSE;
  image = grove_store_lookup_image (self->store, pause_image, cancellable, error);
  if (image == NULL)
    return FALSE;
  rootfs = grove_engine_prepare_rootfs (self, job->record, id, grove_image_get_id (image),
                                        cancellable, error);
  if (rootfs == NULL
      || !grove_engine_write_spec (self, job->record, id, infra_config, image, pause_image, rootfs,
                                   error)
      || !grove_runtime_create_sync (job->runtime, &options, &pid, &conmon_pid, cancellable, error)
      || !grove_runtime_start_sync (job->runtime, id, cancellable, error))
    return g_prefix_error (error, "starting the infra container: "), FALSE;
  json_object_set_int_member (job->record, "infraPid", pid);
  json_object_set_int_member (job->record, "infraConmonPid", conmon_pid);
  return TRUE;
}

/* the namespace's processes reach the pod's files as an unmapped user: by path, from "/" */
static gboolean
check_reachable (const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);

  while (strcmp (dir, "/") != 0)
    {
      struct stat st;
      char *parent = NULL;

      if (stat (dir, &st) < 0)
        return grove_throw_errno_code (error, errno, "stat %s", dir);
      if ((st.st_mode & S_IXOTH) == 0)
        return grove_throw (error, GROVE_ERROR_UNSUPPORTED,
                            "%s is not searchable by others (mode %04o): the processes of a "
                            "user namespace cannot reach %s",
                            dir, st.st_mode & 07777, path);
      parent = g_path_get_dirname (dir);
      g_free (dir);
      dir = parent;
    }
  return TRUE;
}

/*
 * The pod's user namespace, with its network namespace when it has one (the user namespace
 * must own it); the pod's files and /dev/shm are bind-mounted by the runtime from inside the
 * user namespace, so the directories on their way become searchable by anyone.
 */
static gboolean
make_user_namespace (GroveEngine *self, JsonObject *record, GError **error)
{
  const char *id = grove_record_string (record, "id");
  g_autofree char *pods = g_build_filename (self->root, "pods", NULL);
  g_autofree char *pod_dir = grove_engine_pod_dir (self, id);
  g_autofree char *run_pods = g_build_filename (self->runroot, "pods", NULL);
  g_autofree char *pod_run_dir = g_build_filename (self->runroot, "pods", id, NULL);
  const char *const dirs[] = { self->root, pods, pod_dir, self->runroot, run_pods, pod_run_dir };

  if (self->pause_path == NULL)
    return grove_throw (error, GROVE_ERROR_UNSUPPORTED,
                        "pod %s: user namespaces need the grove-pause helper", id);
  /* Grove's own directories first: the store may be below the state root */
  for (guint i = 0; i < G_N_ELEMENTS (dirs); i++)
    if (!grove_make_searchable_at (AT_FDCWD, dirs[i], error))
      return FALSE;
  if (!check_reachable (self->root, error) || !check_reachable (self->runroot, error)
      || !check_reachable (grove_store_get_root (self->store), error))
    return g_prefix_error (error, "pod %s: ", id), FALSE;
  return grove_userns_create (self->pause_path, grove_record_object (record, "idMappings"),
                              grove_record_string (record, "usernsPath"),
                              grove_record_string (record, "netnsPath"), error);
}

/**
 * grove_engine_prepare_rootfs: (skip)
 *
 * The rootfs of container @id (the infra container's too) as grove_store_prepare_rootfs()
 * makes it; for a pod with its own user namespace (`usernsPath` and `idMappings` in
 * @record, a pod's or a container's record), idmapped through it.
 */
char *
grove_engine_prepare_rootfs (GroveEngine *self, JsonObject *record, const char *id,
                             const char *image_id, GCancellable *cancellable, GError **error)
{
  const char *userns = grove_record_string (record, "usernsPath");
  JsonObject *mappings = grove_record_object (record, "idMappings");
  grove_autofd int userns_fd = -1;
  GroveIdmap idmap = { -1, 0, 0 };

  if (userns == NULL)
    return grove_store_prepare_rootfs (self->store, id, image_id, cancellable, error);
  if (mappings == NULL || !grove_userns_root_ids (mappings, &idmap.root_uid, &idmap.root_gid))
    return grove_throw (error, GROVE_ERROR_FAILED,
                        "the record of %s has user namespace %s without the mappings of its "
                        "root",
                        id, userns),
           NULL;
  userns_fd = grove_userns_open (userns, error);
  if (userns_fd < 0)
    return NULL;
  idmap.userns_fd = userns_fd;
  return grove_store_prepare_rootfs_idmapped (self->store, id, image_id, &idmap, cancellable,
                                              error);
}

static gboolean
run_pod_steps (GroveJob *job, GCancellable *cancellable, GError **error)
{
  GroveEngine *self = job->engine;
  g_autofree char *pod_dir = grove_engine_pod_dir (self, job->id);
  g_autofree char *run_dir = grove_engine_run_dir (self, job->id);
  const char *netns = grove_record_string (job->record, "netnsPath");
  const char *shm = grove_record_string (job->record, "shmPath");
  const char *userns = grove_record_string (job->record, "usernsPath");
  g_autofree char *pod_run_dir = g_build_filename (self->runroot, "pods", job->id, NULL);

  /* written first: an engine that dies half-way finds "creating" and undoes the rest */
  if (!grove_mkdir_p_at (AT_FDCWD, pod_dir, 0700, error)
      || !grove_mkdir_p_at (AT_FDCWD, run_dir, 0700, error)
      || !grove_mkdir_p_at (AT_FDCWD, pod_run_dir, 0700, error)
      || !grove_write_record (pod_dir, "pod.json", job->record, error))
    return FALSE;
  /* the network namespace comes before the sandbox, so a VM runtime sees its interfaces */
  if ((userns != NULL && !make_user_namespace (self, job->record, error))
      || (userns == NULL && netns != NULL && !grove_netns_create (netns, error))
      || !grove_pod_network_attach (self, job->record, cancellable, error)
      || !write_pod_files (pod_dir, job->config, netns == NULL, error)
      || (shm != NULL && !grove_shm_mount (shm, SHM_SIZE, error))
      || !start_infra (job, cancellable, error))
    return FALSE;
  json_object_set_string_member (job->record, "state", "ready");
  return grove_write_record (pod_dir, "pod.json", job->record, error);
}

static gboolean
run_pod_work (GroveJob *job, GCancellable *cancellable, GError **error)
{
  g_autoptr (GError) cleanup_error = NULL;

  if (run_pod_steps (job, cancellable, error))
    return TRUE;
  /* each step has its undo: run them all, whatever got done */
  if (!grove_pod_cleanup_work (job->engine, job->runtime, job->record, NULL, &cleanup_error))
    g_warning ("cleaning up after a failed pod start: %s", cleanup_error->message);
  return FALSE;
}

static void
run_pod_done (GroveEngine *self, GroveJob *job, gboolean ok)
{
  g_autoptr (JsonNode) node = NULL;
  GrovePod *pod;

  if (!ok)
    {
      g_hash_table_remove (self->names, job->name_key);
      return;
    }
  node = json_node_init_object (json_node_alloc (), job->record);
  pod = grove_pod_new_from_json (node, NULL);
  g_hash_table_insert (self->pods, g_strdup (job->id), pod);
  g_signal_emit_by_name (self, "pod-changed", pod);
}

static JsonObject *
new_pod_record (GroveEngine *self, const char *id, JsonObject *config, const char *handler,
                gboolean trusted, JsonObject *id_mappings)
{
  JsonObject *record = json_object_new ();
  gboolean host_network = g_str_equal (namespace_mode (config, "network"), "NODE");
  gboolean host_ipc = g_str_equal (namespace_mode (config, "ipc"), "NODE");
  g_autofree char *netns = g_build_filename (self->runroot, "netns", id, NULL);
  g_autofree char *shm = g_build_filename (self->runroot, "pods", id, "shm", NULL);

  json_object_set_int_member (record, "version", 1);
  json_object_set_string_member (record, "id", id);
  json_object_set_object_member (record, "config", grove_record_copy (config));
  json_object_set_string_member (record, "state", "creating");
  json_object_set_int_member (record, "createdAt", grove_now_ns ());
  json_object_set_string_member (record, "handler", handler);
  json_object_set_boolean_member (record, "trusted", trusted);
  if (!host_network)
    json_object_set_string_member (record, "netnsPath", netns);
  if (!host_ipc)
    json_object_set_string_member (record, "shmPath", shm);
  json_object_set_int_member (record, "infraPid", 0);
  if (id_mappings != NULL)
    {
      g_autofree char *userns = g_build_filename (self->runroot, "userns", id, NULL);

      json_object_set_string_member (record, "usernsPath", userns);
      json_object_set_object_member (record, "idMappings", json_object_ref (id_mappings));
    }
  return record;
}

/**
 * grove_engine_config_is_trusted:
 * @config: a CRI `PodSandboxConfig` or `ContainerConfig`, in protobuf's JSON mapping
 *
 * Whether @config asks for the host's trust: `linux.securityContext.privileged`, or the
 * host's network, PID or IPC namespace in `linux.securityContext.namespaceOptions` (both
 * configs put them at the same place). Such pods run on the trusted handler.
 *
 * Returns: %TRUE for a privileged or host-namespace config
 */
gboolean
grove_engine_config_is_trusted (JsonObject *config)
{
  const char *const namespaces[] = { "network", "pid", "ipc", NULL };
  gboolean trusted = FALSE;

  g_return_val_if_fail (config != NULL, FALSE);
  trusted = pod_privileged (config);
  for (guint i = 0; namespaces[i] != NULL; i++)
    trusted = trusted || g_str_equal (namespace_mode (config, namespaces[i]), "NODE");
  return trusted;
}

/* privileged or host-namespace pods go to the trusted runtime, never to a VM runtime */
static const char *
pick_handler (GroveEngine *self, JsonObject *config, const char *requested, gboolean *out_trusted,
              GError **error)
{
  gboolean trusted = grove_engine_config_is_trusted (config);
  const char *handler;

  handler = trusted                                   ? self->trusted_handler
            : requested != NULL && *requested != '\0' ? requested
                                                      : self->default_handler;
  if (requested != NULL && *requested != '\0' && !g_hash_table_contains (self->handlers, requested))
    return grove_throw (error, GROVE_ERROR_NOT_FOUND, "no runtime handler '%s'", requested), NULL;
  if (!g_hash_table_contains (self->handlers, handler))
    return grove_throw (error, GROVE_ERROR_NOT_FOUND, "runtime handler '%s' is not configured",
                        handler),
           NULL;
  *out_trusted = trusted;
  return handler;
}

/**
 * grove_engine_run_pod_async:
 * @self: a #GroveEngine
 * @config: the CRI `PodSandboxConfig`, in protobuf's JSON mapping
 * @handler: (nullable): the runtime handler asked for (CRI `runtime_handler`)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the pod is ready or has failed
 * @user_data: closure
 *
 * Creates and starts a pod: its dirs and record, network namespace attached to the pod
 * network through CNI (unless it uses the host's network), hostname, hosts and
 * resolv.conf, /dev/shm, and the infra container (with the pod's ID) on the chosen
 * runtime. On failure everything done so far is undone.
 */
void
grove_engine_run_pod_async (GroveEngine *self, JsonObject *config, const char *handler,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree char *id = grove_new_id ();
  g_autofree char *name_key = NULL;
  const char *chosen = NULL;
  const char *holder;
  gboolean trusted = FALSE;
  g_autoptr (JsonObject) id_mappings = NULL;
  GroveJob *job;

  g_return_if_fail (GROVE_IS_ENGINE (self));
  if (validate_pod_config (config, &local_error)
      && grove_userns_read_options (config, &id_mappings, &local_error)
      && (id_mappings == NULL || grove_engine_check_user_namespaces (self, &local_error)))
    chosen = pick_handler (self, config, handler, &trusted, &local_error);
  if (chosen != NULL)
    {
      name_key = grove_pod_name_key (config);
      holder = g_hash_table_lookup (self->names, name_key);
      if (holder != NULL)
        grove_throw (&local_error, GROVE_ERROR_ALREADY_EXISTS,
                     "the pod name %s is reserved for pod %s", name_key, holder);
    }
  if (local_error != NULL)
    {
      g_task_report_error (self, callback, user_data, grove_engine_run_pod_async,
                           g_steal_pointer (&local_error));
      return;
    }
  g_hash_table_insert (self->names, g_strdup (name_key), g_strdup (id));
  job = grove_job_new (self, id, run_pod_work, run_pod_done);
  job->id = g_strdup (id);
  job->name_key = g_steal_pointer (&name_key);
  job->config = grove_record_copy (config);
  job->handler = g_strdup (chosen);
  job->runtime = g_object_ref (g_hash_table_lookup (self->handlers, chosen));
  job->record = new_pod_record (self, id, config, chosen, trusted, id_mappings);
  grove_engine_run_job (self, job, cancellable, callback, user_data, grove_engine_run_pod_async);
}

/**
 * grove_engine_run_pod_finish:
 * @self: a #GroveEngine
 * @result: the #GAsyncResult
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the ready pod
 */
GrovePod *
grove_engine_run_pod_finish (GroveEngine *self, GAsyncResult *result, GError **error)
{
  GroveJob *job = grove_engine_job_finish (self, result, grove_engine_run_pod_async, error);
  return job ? grove_engine_get_pod (self, job->id, error) : NULL;
}

/* the infra container and every container of the pod end; the netns and shm go */
static gboolean
stop_pod_work (GroveJob *job, GCancellable *cancellable, GError **error)
{
  GroveEngine *self = job->engine;
  JsonObject *record = job->record;
  const char *id = job->id;
  const char *netns = grove_record_string (record, "netnsPath");
  const char *shm = grove_record_string (record, "shmPath");
  g_autofree char *pod_dir = grove_engine_pod_dir (self, id);

  for (guint i = 0; i < job->container_records->len; i++)
    {
      JsonObject *container = job->container_records->pdata[i];
      GroveOciRuntime *runtime
          = g_hash_table_lookup (job->runtimes, grove_record_string (container, "handler"));
      if (runtime != NULL
          && !grove_container_stop_work (self, runtime, container, 0, cancellable, error))
        return FALSE;
    }
  if (grove_record_int (record, "infraPid", 0) != 0)
    {
      g_autoptr (GError) local_error = NULL;
      /* the infra container may be gone already: then kill fails and the exit file is there */
      if (!grove_runtime_kill_sync (job->runtime, id, SIGKILL, FALSE, cancellable, &local_error))
        g_debug ("killing infra container %s: %s", id, local_error->message);
      if (!grove_engine_wait_exit (self, id, STOP_WAIT_SECONDS * 1000, cancellable))
        return grove_throw (error, GROVE_ERROR_FAILED, "the infra container of pod %s did not stop",
                            id);
    }
  /* DEL while the namespace is there, so the plugins find the pod's interfaces */
  if (!grove_pod_network_detach (self, record, cancellable, error)
      || (netns != NULL && !grove_netns_remove (netns, error))
      || (shm != NULL && !grove_shm_unmount (shm, error)))
    return FALSE;
  json_object_set_string_member (record, "state", "notready");
  json_object_set_int_member (record, "infraPid", 0);
  return grove_write_record (pod_dir, "pod.json", record, error);
}

static void
install_pod_record (GroveEngine *self, GroveJob *job)
{
  GrovePod *pod = g_hash_table_lookup (self->pods, job->id);

  if (pod == NULL)
    return;
  json_object_set_string_member (grove_pod_get_record (pod), "state",
                                 grove_record_string (job->record, "state"));
  json_object_set_int_member (grove_pod_get_record (pod), "infraPid",
                              grove_record_int (job->record, "infraPid", 0));
  json_object_remove_member (grove_pod_get_record (pod), "ips");
  if (json_object_has_member (job->record, "ips"))
    json_object_set_member (grove_pod_get_record (pod), "ips",
                            grove_record_copy_node (json_object_get_member (job->record, "ips")));
  g_signal_emit_by_name (self, "pod-changed", pod);
}

static void
stop_pod_done (GroveEngine *self, GroveJob *job, gboolean ok)
{
  /* containers stopped before a failure are stopped all the same */
  for (guint i = 0; i < job->container_records->len; i++)
    grove_engine_install_container (self, job->container_records->pdata[i]);
  if (ok)
    install_pod_record (self, job);
}

static GroveJob *
pod_job (GroveEngine *self, const char *pod_id, GroveJobWorkFunc work, GroveJobDoneFunc done,
         GError **error)
{
  g_autoptr (GrovePod) pod = grove_engine_get_pod (self, pod_id, error);
  GroveListFilter filter = { NULL, NULL, -1, NULL };
  g_autoptr (GPtrArray) containers = NULL;
  GroveJob *job;

  if (pod == NULL)
    return NULL;
  filter.pod_id = grove_pod_get_id (pod);
  containers = grove_engine_list_containers (self, &filter);
  job = grove_job_new (self, grove_pod_get_id (pod), work, done);
  job->id = g_strdup (grove_pod_get_id (pod));
  job->record = grove_record_copy (grove_pod_get_record (pod));
  job->runtime = g_object_ref (g_hash_table_lookup (self->handlers, grove_pod_get_handler (pod)));
  job->runtimes = g_hash_table_ref (self->handlers);
  job->container_records = g_ptr_array_new_with_free_func ((GDestroyNotify)json_object_unref);
  for (guint i = 0; i < containers->len; i++)
    g_ptr_array_add (job->container_records,
                     grove_record_copy (grove_container_get_record (containers->pdata[i])));
  return job;
}

/**
 * grove_engine_stop_pod_async:
 * @self: a #GroveEngine
 * @pod_id: the pod
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: closure
 *
 * Stops every container of the pod (forcibly), then its infra container, detaches it from
 * the pod network (CNI DEL with the kept ADD input, which frees its addresses and port
 * mappings) and removes its network namespace and /dev/shm. Stopping a stopped or unknown pod
 * succeeds.
 */
void
grove_engine_stop_pod_async (GroveEngine *self, const char *pod_id, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  GError *local_error = NULL;
  GroveJob *job;

  g_return_if_fail (GROVE_IS_ENGINE (self));
  if (grove_engine_succeed_if_absent (self, self->pods, pod_id, callback, user_data,
                                      grove_engine_stop_pod_async))
    return;
  job = pod_job (self, pod_id, stop_pod_work, stop_pod_done, &local_error);
  if (job == NULL)
    return g_task_report_error (self, callback, user_data, grove_engine_stop_pod_async,
                                local_error);
  grove_engine_run_job (self, job, cancellable, callback, user_data, grove_engine_stop_pod_async);
}

/**
 * grove_engine_stop_pod_finish:
 * @self: a #GroveEngine
 * @result: the #GAsyncResult
 * @error: return location
 *
 * Returns: %TRUE on success
 */
gboolean
grove_engine_stop_pod_finish (GroveEngine *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
remove_pod_work (GroveJob *job, GCancellable *cancellable, GError **error)
{
  GroveEngine *self = job->engine;

  if (g_strcmp0 (grove_record_string (job->record, "state"), "ready") == 0
      && !stop_pod_work (job, cancellable, error))
    return FALSE;
  for (guint i = 0; i < job->container_records->len; i++)
    {
      JsonObject *container = job->container_records->pdata[i];
      GroveOciRuntime *runtime
          = g_hash_table_lookup (job->runtimes, grove_record_string (container, "handler"));
      if (!grove_container_stop_work (self, runtime, container, 0, cancellable, error)
          || !grove_container_cleanup_work (self, runtime, container, cancellable, error))
        return FALSE;
    }
  return grove_pod_cleanup_work (self, job->runtime, job->record, cancellable, error);
}

static void
remove_pod_done (GroveEngine *self, GroveJob *job, gboolean ok)
{
  GrovePod *pod = g_hash_table_lookup (self->pods, job->id);
  g_autofree char *name_key = NULL;

  if (!ok)
    return stop_pod_done (self, job, ok);
  for (guint i = 0; i < job->container_records->len; i++)
    grove_engine_forget_container (self,
                                   grove_record_string (job->container_records->pdata[i], "id"));
  if (pod == NULL)
    return;
  name_key = grove_pod_name_key (grove_pod_get_config (pod));
  g_hash_table_remove (self->names, name_key);
  g_hash_table_remove (self->pods, job->id);
  g_signal_emit_by_name (self, "pod-removed", job->id);
}

/**
 * grove_engine_remove_pod_async:
 * @self: a #GroveEngine
 * @pod_id: the pod
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: closure
 *
 * Stops the pod if it runs and removes it with all its containers. Removing an unknown pod
 * succeeds.
 */
void
grove_engine_remove_pod_async (GroveEngine *self, const char *pod_id, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  GError *local_error = NULL;
  GroveJob *job;

  g_return_if_fail (GROVE_IS_ENGINE (self));
  if (grove_engine_succeed_if_absent (self, self->pods, pod_id, callback, user_data,
                                      grove_engine_remove_pod_async))
    return;
  job = pod_job (self, pod_id, remove_pod_work, remove_pod_done, &local_error);
  if (job == NULL)
    return g_task_report_error (self, callback, user_data, grove_engine_remove_pod_async,
                                local_error);
  grove_engine_run_job (self, job, cancellable, callback, user_data, grove_engine_remove_pod_async);
}

/**
 * grove_engine_remove_pod_finish:
 * @self: a #GroveEngine
 * @result: the #GAsyncResult
 * @error: return location
 *
 * Returns: %TRUE on success
 */
gboolean
grove_engine_remove_pod_finish (GroveEngine *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}
