/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveUserns"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grove-idmap.h"
#include "grove-netns.h"
#include "grove-spec-private.h"
#include "grove-userns.h"
#include "grove-utils.h"

/*
 * A pod's user namespace (CRI `userns_options`, mode POD). Grove makes it itself, with a
 * short-lived holder process that unshares it (and, for a pod with its own network, the
 * network namespace, which the user namespace must own: a process of the user namespace
 * may join only a network namespace it owns, and sysfs mounts there only then). Both are
 * bind-mounted onto files, like a pod's network namespace, and the holder ends at once.
 * The infra container and every container of the pod join the user namespace by path.
 */

#define OPTIONS_PATH "linux.securityContext.namespaceOptions.usernsOptions"
#define MAPPINGS_MAX 340 /* the kernel's limit of lines in a uid_map */
#define PROBE_HOST_ID G_GUINT64_CONSTANT (3000000000)

static const char *const namespace_modes[] = { "POD", "CONTAINER", "NODE", "TARGET", NULL };
enum
{
  MODE_POD,
  MODE_CONTAINER,
  MODE_NODE,
  MODE_TARGET
};

typedef struct
{
  gint64 container_id;
  gint64 host_id;
  gint64 length;
} Range;

static gboolean
read_range (JsonNode *node, const char *path, Range *range, GError **error)
{
  JsonObject *object = NULL;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return grove_spec_throw_expected (error, "", path, "an IDMapping object");
  object = json_node_get_object (node);
  if (!grove_spec_read_int64 (object, path, "containerId", &range->container_id, error)
      || !grove_spec_read_int64 (object, path, "hostId", &range->host_id, error)
      || !grove_spec_read_int64 (object, path, "length", &range->length, error))
    return FALSE;
  if (range->length < 1 || range->container_id < 0 || range->host_id < 0
      || range->container_id + range->length > G_MAXUINT32 + G_GINT64_CONSTANT (1)
      || range->host_id + range->length > G_MAXUINT32 + G_GINT64_CONSTANT (1))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s: the range %" G_GINT64_FORMAT "+%" G_GINT64_FORMAT
                        " → %" G_GINT64_FORMAT " is empty or leaves the 32-bit IDs",
                        path, range->container_id, range->length, range->host_id);
  if (range->host_id == 0)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s: the range maps the host's root (hostId 0) into the pod", path);
  return TRUE;
}

static gboolean
overlaps (gint64 a, gint64 a_length, gint64 b, gint64 b_length)
{
  return a < b + b_length && b < a + a_length;
}

/* non-empty, no two ranges sharing an ID on either side, and the pod's root mapped */
static gboolean
check_ranges (GArray *ranges, const char *path, GError **error)
{
  gboolean root_mapped = FALSE;

  if (ranges->len == 0)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s: mode POD needs mappings; Grove does not pick host IDs itself", path);
  if (ranges->len > MAPPINGS_MAX)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s: %u mappings, more than the kernel's %d", path, ranges->len,
                        MAPPINGS_MAX);
  for (guint i = 0; i < ranges->len; i++)
    {
      Range *a = &g_array_index (ranges, Range, i);

      root_mapped = root_mapped || a->container_id == 0;
      for (guint j = 0; j < i; j++)
        {
          Range *b = &g_array_index (ranges, Range, j);

          if (overlaps (a->container_id, a->length, b->container_id, b->length)
              || overlaps (a->host_id, a->length, b->host_id, b->length))
            return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s[%u] overlaps %s[%u]", path,
                                i, path, j);
        }
    }
  if (!root_mapped)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s: containerId 0 (the pod's root) is not mapped", path);
  return TRUE;
}

/* the CRI IDMappings at @member, checked, as OCI `uidMappings`/`gidMappings` */
static JsonArray *
read_mappings (JsonObject *options, const char *member, GError **error)
{
  JsonArray *array = NULL;
  g_autoptr (GArray) ranges = g_array_new (FALSE, FALSE, sizeof (Range));
  g_autofree char *path = grove_spec_member_path (OPTIONS_PATH, member);
  g_autoptr (JsonArray) mappings = json_array_new ();

  if (!grove_spec_read_array (options, OPTIONS_PATH, member, &array, error))
    return NULL;
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      g_autofree char *element = g_strdup_printf ("%s[%u]", path, i);
      Range range = { 0 };

      if (!read_range (json_array_get_element (array, i), element, &range, error))
        return NULL;
      g_array_append_val (ranges, range);
    }
  if (!check_ranges (ranges, path, error))
    return NULL;
  for (guint i = 0; i < ranges->len; i++)
    {
      Range *range = &g_array_index (ranges, Range, i);
      JsonObject *mapping = json_object_new ();

      json_object_set_int_member (mapping, "containerID", range->container_id);
      json_object_set_int_member (mapping, "hostID", range->host_id);
      json_object_set_int_member (mapping, "size", range->length);
      json_array_add_object_element (mappings, mapping);
    }
  return g_steal_pointer (&mappings);
}

/* what a user namespace cannot be combined with: the host's namespaces, privilege */
static gboolean
check_pod_security (JsonObject *security, JsonObject *namespaces, GError **error)
{
  const char *const shared[] = { "network", "pid", "ipc", NULL };
  const char *path = "linux.securityContext.namespaceOptions";
  gboolean privileged = FALSE;

  for (guint i = 0; shared[i] != NULL; i++)
    {
      int mode = MODE_POD;

      if (!grove_spec_read_enum (namespaces, path, shared[i], namespace_modes, &mode, error))
        return FALSE;
      if (mode == MODE_NODE)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "%s.%s: a pod with its own user namespace cannot use the host's %s "
                            "namespace",
                            path, shared[i], shared[i]);
    }
  if (!grove_spec_read_bool (security, "linux.securityContext", "privileged", &privileged, error))
    return FALSE;
  if (privileged)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "linux.securityContext.privileged: a privileged pod cannot have its own "
                        "user namespace");
  return TRUE;
}

/**
 * grove_userns_read_options:
 * @pod_config: a CRI `PodSandboxConfig` in protobuf's JSON mapping
 * @out_mappings: (out) (transfer full) (nullable): the pod's mappings as OCI
 *   `{"uidMappings": [...], "gidMappings": [...]}`, or %NULL when the pod uses the host's
 *   user namespace
 * @error: return location for a #GError
 *
 * Reads `linux.securityContext.namespaceOptions.usernsOptions`. Absent or mode NODE: the
 * host's user namespace, as before. Mode POD: both `uids` and `gids` must be given (kubelet
 * always sends them; Grove does not allocate host IDs), each range non-empty and inside 32
 * bits, no two ranges overlapping on either side, container ID 0 mapped, host ID 0 not
 * mapped. Such a pod cannot be privileged nor use the host's network, PID or IPC namespace.
 *
 * Returns: %TRUE on success; %GROVE_ERROR_INVALID_ARGUMENT for bad mappings,
 *   %GROVE_ERROR_UNSUPPORTED for modes CONTAINER and TARGET
 */
gboolean
grove_userns_read_options (JsonObject *pod_config, JsonObject **out_mappings, GError **error)
{
  JsonObject *linux_ = NULL;
  JsonObject *security = NULL;
  JsonObject *namespaces = NULL;
  JsonObject *options = NULL;
  int mode = MODE_POD;
  g_autoptr (JsonObject) mappings = json_object_new ();
  JsonArray *uids = NULL;
  JsonArray *gids = NULL;

  g_return_val_if_fail (pod_config != NULL, FALSE);
  *out_mappings = NULL;
  if (!grove_spec_read_object (pod_config, "", "linux", &linux_, error)
      || !grove_spec_read_object (linux_, "linux", "securityContext", &security, error)
      || !grove_spec_read_object (security, "linux.securityContext", "namespaceOptions",
                                  &namespaces, error)
      || !grove_spec_read_object (namespaces, "linux.securityContext.namespaceOptions",
                                  "usernsOptions", &options, error))
    return FALSE;
  if (options == NULL)
    return TRUE;
  if (!grove_spec_read_enum (options, OPTIONS_PATH, "mode", namespace_modes, &mode, error))
    return FALSE;
  if (mode == MODE_NODE)
    return TRUE;
  if (mode != MODE_POD)
    return grove_throw (error, GROVE_ERROR_UNSUPPORTED,
                        OPTIONS_PATH ".mode: %s user namespaces are not supported (only POD and "
                                     "NODE)",
                        namespace_modes[mode]);
  uids = read_mappings (options, "uids", error);
  if (uids == NULL)
    return FALSE;
  json_object_set_array_member (mappings, "uidMappings", uids);
  gids = read_mappings (options, "gids", error);
  if (gids == NULL)
    return FALSE;
  json_object_set_array_member (mappings, "gidMappings", gids);
  if (!check_pod_security (security, namespaces, error))
    return FALSE;
  *out_mappings = g_steal_pointer (&mappings);
  return TRUE;
}

static gboolean
root_of (JsonArray *array, guint32 *out)
{
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      JsonObject *mapping = json_array_get_object_element (array, i);

      if (json_object_get_int_member_with_default (mapping, "containerID", -1) == 0)
        {
          *out = (guint32)json_object_get_int_member_with_default (mapping, "hostID", 0);
          return TRUE;
        }
    }
  return FALSE;
}

/**
 * grove_userns_root_ids:
 * @mappings: mappings from grove_userns_read_options()
 * @out_uid: (out): the host UID of the namespace's root
 * @out_gid: (out): the host GID of the namespace's root
 *
 * Returns: %TRUE when both are mapped
 */
gboolean
grove_userns_root_ids (JsonObject *mappings, guint32 *out_uid, guint32 *out_gid)
{
  JsonNode *uids = NULL;
  JsonNode *gids = NULL;

  g_return_val_if_fail (mappings != NULL, FALSE);
  uids = json_object_get_member (mappings, "uidMappings");
  gids = json_object_get_member (mappings, "gidMappings");
  return uids != NULL && gids != NULL && JSON_NODE_HOLDS_ARRAY (uids)
         && JSON_NODE_HOLDS_ARRAY (gids) && root_of (json_node_get_array (uids), out_uid)
         && root_of (json_node_get_array (gids), out_gid);
}

/* in the holder, between fork and exec: nothing but the system call */
static void
unshare_cb (gpointer user_data)
{
  unshare (GPOINTER_TO_INT (user_data));
}

static gboolean
write_map (int pid, const char *file, JsonObject *mappings, const char *member, GError **error)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/%s", pid, file);
  JsonArray *array = json_object_get_array_member (mappings, member);
  g_autoptr (GString) text = g_string_new ("");
  grove_autofd int fd = open (path, O_WRONLY | O_CLOEXEC);

  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *mapping = json_array_get_object_element (array, i);

      g_string_append_printf (text,
                              "%" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT "\n",
                              json_object_get_int_member (mapping, "containerID"),
                              json_object_get_int_member (mapping, "hostID"),
                              json_object_get_int_member (mapping, "size"));
    }
  if (fd < 0 || write (fd, text->str, text->len) != (gssize)text->len)
    return grove_throw_errno_code (error, errno, "writing %s", path);
  return TRUE;
}

/* the holder must really be in a namespace of its own: unshare_cb cannot report failure */
static gboolean
check_own_userns (int pid, GError **error)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/ns/user", pid);
  struct stat holder_st, self_st;

  if (stat (path, &holder_st) < 0 || stat ("/proc/self/ns/user", &self_st) < 0)
    return grove_throw_errno_code (error, errno, "stat %s", path);
  if (holder_st.st_ino == self_st.st_ino)
    return grove_throw (error, GROVE_ERROR_FAILED,
                        "the holder process could not create a user namespace (see "
                        "/proc/sys/user/max_user_namespaces)");
  return TRUE;
}

/* a process in new namespaces (@flags), with @mappings written; it waits for a signal */
static GSubprocess *
spawn_holder (const char *holder, int flags, JsonObject *mappings, int *out_pid, GError **error)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (
      G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autoptr (GSubprocess) process = NULL;

  g_subprocess_launcher_set_child_setup (launcher, unshare_cb, GINT_TO_POINTER (flags), NULL);
  process = g_subprocess_launcher_spawn (launcher, error, holder, NULL);
  if (process == NULL)
    return g_prefix_error (error, "starting the user namespace holder %s: ", holder), NULL;
  *out_pid = (int)g_ascii_strtoll (g_subprocess_get_identifier (process), NULL, 10);
  if (!check_own_userns (*out_pid, error)
      || !write_map (*out_pid, "uid_map", mappings, "uidMappings", error)
      || !write_map (*out_pid, "gid_map", mappings, "gidMappings", error))
    {
      g_subprocess_force_exit (process);
      g_subprocess_wait (process, NULL, NULL);
      return NULL;
    }
  return g_steal_pointer (&process);
}

static gboolean
bind_userns (int pid, const char *userns_path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (userns_path);
  g_autofree char *source = g_strdup_printf ("/proc/%d/ns/user", pid);
  grove_autofd int fd = -1;

  if (!grove_mkdir_p_at (AT_FDCWD, dir, 0711, error) || !grove_netns_prepare_dir (dir, error))
    return FALSE;
  fd = open (userns_path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0)
    return grove_throw_errno_code (error, errno, "creating user namespace file %s", userns_path);
  if (mount (source, userns_path, NULL, MS_BIND, NULL) < 0)
    {
      int errsv = errno;

      unlink (userns_path);
      return grove_throw_errno_code (error, errsv, "bind-mounting %s onto %s", source, userns_path);
    }
  return TRUE;
}

/**
 * grove_userns_create:
 * @holder: a program that waits until it is killed (grove-pause)
 * @mappings: the namespace's mappings, from grove_userns_read_options()
 * @userns_path: where the user namespace is bind-mounted (a new file)
 * @netns_path: (nullable): where a new network namespace owned by it is bind-mounted, with
 *   its loopback interface up; %NULL: none
 * @error: return location for a #GError
 *
 * Makes a pod's user namespace (and network namespace) and keeps them alive by their bind
 * mounts; the holder process that made them is gone on return. On failure nothing is left.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_userns_create (const char *holder, JsonObject *mappings, const char *userns_path,
                     const char *netns_path, GError **error)
{
  int flags = CLONE_NEWUSER | (netns_path != NULL ? CLONE_NEWNET : 0);
  int pid = 0;
  g_autoptr (GSubprocess) process = NULL;
  gboolean ok = FALSE;

  g_return_val_if_fail (holder != NULL && mappings != NULL && userns_path != NULL, FALSE);
  process = spawn_holder (holder, flags, mappings, &pid, error);
  if (process == NULL)
    return FALSE;
  ok = bind_userns (pid, userns_path, error)
       && (netns_path == NULL || grove_netns_adopt (netns_path, pid, error));
  g_subprocess_force_exit (process);
  g_subprocess_wait (process, NULL, NULL);
  if (!ok && !grove_userns_remove (userns_path, NULL))
    g_warning ("could not remove %s after a failed creation", userns_path);
  return ok;
}

/**
 * grove_userns_open:
 * @userns_path: a path given to grove_userns_create()
 * @error: return location for a #GError
 *
 * Returns: a file descriptor of the user namespace, or -1
 */
int
grove_userns_open (const char *userns_path, GError **error)
{
  int fd = -1;

  g_return_val_if_fail (userns_path != NULL, -1);
  if (!grove_netns_exists (userns_path))
    return grove_throw (error, GROVE_ERROR_NOT_FOUND, "no user namespace is mounted at %s",
                        userns_path),
           -1;
  fd = open (userns_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return grove_throw_errno_code (error, errno, "opening user namespace %s", userns_path), -1;
  return fd;
}

/**
 * grove_userns_remove:
 * @userns_path: a path given to grove_userns_create()
 * @error: return location for a #GError
 *
 * Unmounts the user namespace at @userns_path and removes the file. The namespace ends
 * with its last process and its last idmapped mount. Removing twice is fine.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_userns_remove (const char *userns_path, GError **error)
{
  g_return_val_if_fail (userns_path != NULL, FALSE);
  return grove_nsfs_remove (userns_path, "user namespace", error);
}

static JsonObject *
probe_mappings (void)
{
  g_autoptr (JsonObject) mappings = json_object_new ();
  const char *const members[] = { "uidMappings", "gidMappings" };

  for (guint i = 0; i < G_N_ELEMENTS (members); i++)
    {
      JsonArray *array = json_array_new ();
      JsonObject *mapping = json_object_new ();

      json_object_set_int_member (mapping, "containerID", 0);
      json_object_set_int_member (mapping, "hostID", PROBE_HOST_ID);
      json_object_set_int_member (mapping, "size", 1);
      json_array_add_object_element (array, mapping);
      json_object_set_array_member (mappings, members[i], array);
    }
  return g_steal_pointer (&mappings);
}

/* an overlay over an idmapped lower dir in @dir shows the lower file owned by the mapped root */
static gboolean
probe_overlay (const char *dir, int userns_fd, GError **error)
{
  const char *const subdirs[] = { "lower", "upper", "work", "stage", "merged" };
  g_autofree char *lower = g_build_filename (dir, "lower", NULL);
  g_autofree char *file = g_build_filename (dir, "lower", "probe", NULL);
  g_autofree char *upper = g_build_filename (dir, "upper", NULL);
  g_autofree char *work = g_build_filename (dir, "work", NULL);
  g_autofree char *stage = g_build_filename (dir, "stage", NULL);
  g_autofree char *merged = g_build_filename (dir, "merged", NULL);
  g_autofree char *seen = g_build_filename (dir, "merged", "probe", NULL);
  struct stat st;
  int errsv = 0;

  for (guint i = 0; i < G_N_ELEMENTS (subdirs); i++)
    {
      g_autofree char *path = g_build_filename (dir, subdirs[i], NULL);
      if (!grove_mkdir_p_at (AT_FDCWD, path, 0700, error))
        return FALSE;
    }
  if (!grove_write_file_at (AT_FDCWD, file, "", 0, 0644, error)
      || !grove_idmap_mount_overlay (lower, upper, work, stage, merged, userns_fd, error))
    return FALSE;
  if (stat (seen, &st) < 0)
    errsv = errno;
  umount2 (merged, MNT_DETACH | UMOUNT_NOFOLLOW);
  if (errsv != 0)
    return grove_throw_errno_code (error, errsv, "stat %s", seen);
  if ((guint64)st.st_uid != PROBE_HOST_ID || (guint64)st.st_gid != PROBE_HOST_ID)
    return grove_throw (
        error, GROVE_ERROR_UNSUPPORTED,
        "an overlay over an idmapped lower dir shows %u:%u instead of %" G_GUINT64_FORMAT,
        st.st_uid, st.st_gid, PROBE_HOST_ID);
  return TRUE;
}

/**
 * grove_userns_probe:
 * @holder: a program that waits until it is killed (grove-pause)
 * @dir: a directory that does not exist yet, on the filesystem of the store; removed again
 * @error: return location for a #GError
 *
 * Whether pods can have user namespaces here: a user namespace can be made, and an overlay
 * over an idmapped lower dir (what a pod's rootfs is) shows the lower dir's files owned by
 * the namespace's root.
 *
 * Returns: %TRUE when it works; the error says why not
 */
gboolean
grove_userns_probe (const char *holder, const char *dir, GError **error)
{
  g_autoptr (JsonObject) mappings = probe_mappings ();
  g_autoptr (GSubprocess) process = NULL;
  g_autofree char *ns = NULL;
  grove_autofd int userns_fd = -1;
  gboolean ok = FALSE;
  int pid = 0;

  g_return_val_if_fail (holder != NULL && dir != NULL, FALSE);
  process = spawn_holder (holder, CLONE_NEWUSER, mappings, &pid, error);
  if (process == NULL)
    return FALSE;
  ns = g_strdup_printf ("/proc/%d/ns/user", pid);
  userns_fd = open (ns, O_RDONLY | O_CLOEXEC);
  if (userns_fd < 0)
    grove_throw_errno_code (error, errno, "opening %s", ns);
  g_subprocess_force_exit (process);
  g_subprocess_wait (process, NULL, NULL);
  if (userns_fd < 0)
    return FALSE;
  ok = grove_mkdir_p_at (AT_FDCWD, dir, 0700, error) && probe_overlay (dir, userns_fd, error);
  if (!grove_rm_rf_at (AT_FDCWD, dir, NULL, ok ? error : NULL))
    return FALSE;
  return ok;
}
