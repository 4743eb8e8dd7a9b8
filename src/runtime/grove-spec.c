/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveSpec"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "grove-host-devices.h"
#include "grove-seccomp.h"
#include "grove-spec-private.h"
#include "grove-spec.h"
#include "grove-sysctl.h"
#include "grove-utils.h"

#define DEFAULT_PATH_ENV "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define NOFILE_DEFAULT G_GUINT64_CONSTANT (1048576)
#define ACCOUNT_FILE_MAX (16 * 1024 * 1024)
#define ID_MAX (G_MAXUINT32 - 1)

/* CRI enums, in proto order (the index is the number) */
enum
{
  NS_POD,
  NS_CONTAINER,
  NS_NODE,
  NS_TARGET
};
static const char *const namespace_modes[] = { "POD", "CONTAINER", "NODE", "TARGET", NULL };

enum
{
  PROPAGATION_PRIVATE,
  PROPAGATION_HOST_TO_CONTAINER,
  PROPAGATION_BIDIRECTIONAL
};
enum
{
  SECCOMP_RUNTIME_DEFAULT,
  SECCOMP_UNCONFINED,
  SECCOMP_LOCALHOST
};
enum
{
  SUPPLEMENTAL_GROUPS_MERGE,
  SUPPLEMENTAL_GROUPS_STRICT
};
static const char *const supplemental_groups_policies[] = { "Merge", "Strict", NULL };

static const char *const seccomp_types[] = { "RuntimeDefault", "Unconfined", "Localhost", NULL };

static const char *const propagations[]
    = { "PROPAGATION_PRIVATE", "PROPAGATION_HOST_TO_CONTAINER", "PROPAGATION_BIDIRECTIONAL", NULL };

static const char *const capability_names[] = {
  [CAP_CHOWN] = "CHOWN",
  [CAP_DAC_OVERRIDE] = "DAC_OVERRIDE",
  [CAP_DAC_READ_SEARCH] = "DAC_READ_SEARCH",
  [CAP_FOWNER] = "FOWNER",
  [CAP_FSETID] = "FSETID",
  [CAP_KILL] = "KILL",
  [CAP_SETGID] = "SETGID",
  [CAP_SETUID] = "SETUID",
  [CAP_SETPCAP] = "SETPCAP",
  [CAP_LINUX_IMMUTABLE] = "LINUX_IMMUTABLE",
  [CAP_NET_BIND_SERVICE] = "NET_BIND_SERVICE",
  [CAP_NET_BROADCAST] = "NET_BROADCAST",
  [CAP_NET_ADMIN] = "NET_ADMIN",
  [CAP_NET_RAW] = "NET_RAW",
  [CAP_IPC_LOCK] = "IPC_LOCK",
  [CAP_IPC_OWNER] = "IPC_OWNER",
  [CAP_SYS_MODULE] = "SYS_MODULE",
  [CAP_SYS_RAWIO] = "SYS_RAWIO",
  [CAP_SYS_CHROOT] = "SYS_CHROOT",
  [CAP_SYS_PTRACE] = "SYS_PTRACE",
  [CAP_SYS_PACCT] = "SYS_PACCT",
  [CAP_SYS_ADMIN] = "SYS_ADMIN",
  [CAP_SYS_BOOT] = "SYS_BOOT",
  [CAP_SYS_NICE] = "SYS_NICE",
  [CAP_SYS_RESOURCE] = "SYS_RESOURCE",
  [CAP_SYS_TIME] = "SYS_TIME",
  [CAP_SYS_TTY_CONFIG] = "SYS_TTY_CONFIG",
  [CAP_MKNOD] = "MKNOD",
  [CAP_LEASE] = "LEASE",
  [CAP_AUDIT_WRITE] = "AUDIT_WRITE",
  [CAP_AUDIT_CONTROL] = "AUDIT_CONTROL",
  [CAP_SETFCAP] = "SETFCAP",
  [CAP_MAC_OVERRIDE] = "MAC_OVERRIDE",
  [CAP_MAC_ADMIN] = "MAC_ADMIN",
  [CAP_SYSLOG] = "SYSLOG",
  [CAP_WAKE_ALARM] = "WAKE_ALARM",
  [CAP_BLOCK_SUSPEND] = "BLOCK_SUSPEND",
  [CAP_AUDIT_READ] = "AUDIT_READ",
  [CAP_PERFMON] = "PERFMON",
  [CAP_BPF] = "BPF",
  [CAP_CHECKPOINT_RESTORE] = "CHECKPOINT_RESTORE",
};

/* containerd's default set */
static const int default_capabilities[] = {
  CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
  CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
  CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
  CAP_KILL,    CAP_AUDIT_WRITE,
};

static const char *const default_masked_paths[] = {
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
  NULL,
};

static const char *const default_readonly_paths[] = {
  "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

/* what the spec is generated from, resolved once; nothing here is owned */
typedef struct
{
  const GroveSpecInput *input;
  JsonObject *container;
  JsonObject *pod;
  JsonObject *image;
  JsonObject *security;
  const char *security_path;
  JsonObject *resources;
  gboolean privileged;
  gboolean host_network;
  const char *hostname;
  int network_mode;
  int pid_mode;
  int ipc_mode;
} SpecContext;

/* users, from the image's own /etc/passwd and /etc/group */

static gboolean
parse_id (const char *text, guint32 *out)
{
  guint64 value = 0;

  if (!g_ascii_string_to_unsigned (text, 10, 0, ID_MAX, &value, NULL))
    return FALSE;
  *out = (guint32)value;
  return TRUE;
}

static gboolean
read_fd_contents (int fd, const char *what, char **out_contents, GError **error)
{
  g_autoptr (GString) contents = g_string_new (NULL);
  char buf[16384];

  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return grove_throw_errno_code (error, errno, "reading %s", what);
      if (n == 0)
        break;
      if (contents->len + (gsize)n > ACCOUNT_FILE_MAX)
        return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s is larger than %d bytes", what,
                            ACCOUNT_FILE_MAX);
      g_string_append_len (contents, buf, n);
    }
  *out_contents = g_string_free (g_steal_pointer (&contents), FALSE);
  return TRUE;
}

/* reads @path of the rootfs without following anything out of it; a missing file gives %NULL */
static gboolean
read_rootfs_file (int root_fd, const char *rootfs, const char *path, char **out_contents,
                  GError **error)
{
  struct open_how how = { 0 };
  grove_autofd int fd = -1;
  struct stat st;
  g_autofree char *what = g_strdup_printf ("%s of the image (%s)", path, rootfs);

  *out_contents = NULL;
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  do
    fd = (int)syscall (SYS_openat2, root_fd, path, &how, sizeof how);
  while (fd < 0 && (errno == EAGAIN || errno == EINTR));
  if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
    return TRUE;
  if (fd < 0)
    return grove_throw_errno_code (error, errno, "opening %s", what);
  if (fstat (fd, &st) < 0)
    return grove_throw_errno_code (error, errno, "stat %s", what);
  if (!S_ISREG (st.st_mode))
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s is not a regular file", what);
  return read_fd_contents (fd, what, out_contents, error);
}

/* the fields of the first /etc/passwd or /etc/group line naming @name (field 0) or, when
 * @name is %NULL, carrying @id (field 2) */
static char **
find_account (const char *contents, const char *name, guint32 id)
{
  g_auto (GStrv) lines = NULL;

  if (contents == NULL)
    return NULL;
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) fields = g_strsplit (lines[i], ":", -1);
      guint32 line_id = 0;

      if (g_strv_length (fields) < 4 || !parse_id (fields[2], &line_id))
        continue;
      if (name != NULL ? strcmp (fields[0], name) == 0 : line_id == id)
        return g_steal_pointer (&fields);
    }
  return NULL;
}

static gboolean
resolve_user_part (const char *passwd, const char *user, guint32 *out_uid, guint32 *out_gid,
                   char **out_name, GError **error)
{
  g_auto (GStrv) entry = NULL;
  gboolean numeric = parse_id (user, out_uid);

  entry = find_account (passwd, numeric ? NULL : user, *out_uid);
  *out_gid = 0;
  *out_name = NULL;
  if (entry == NULL && !numeric)
    return grove_throw (error, GROVE_ERROR_NOT_FOUND,
                        "user '%s' not found in the image's /etc/passwd", user);
  /* a uid without a passwd entry runs with gid 0 and no supplementary groups */
  if (entry == NULL)
    return TRUE;
  if (!numeric)
    parse_id (entry[2], out_uid);
  if (!parse_id (entry[3], out_gid))
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                        "the image's /etc/passwd gives user '%s' an invalid gid '%s'", entry[0],
                        entry[3]);
  *out_name = g_strdup (entry[0]);
  return TRUE;
}

static gboolean
resolve_group_part (const char *group, const char *name, guint32 *out_gid, GError **error)
{
  g_auto (GStrv) entry = NULL;

  if (parse_id (name, out_gid))
    return TRUE;
  entry = find_account (group, name, 0);
  if (entry == NULL)
    return grove_throw (error, GROVE_ERROR_NOT_FOUND,
                        "group '%s' not found in the image's /etc/group", name);
  parse_id (entry[2], out_gid);
  return TRUE;
}

static void
append_gid (GArray *gids, guint32 gid)
{
  for (guint i = 0; i < gids->len; i++)
    if (g_array_index (gids, guint32, i) == gid)
      return;
  g_array_append_val (gids, gid);
}

/* the groups whose member list names @user */
static void
collect_member_groups (const char *group, const char *user, GArray *gids)
{
  g_auto (GStrv) lines = NULL;

  if (group == NULL || user == NULL)
    return;
  lines = g_strsplit (group, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) fields = g_strsplit (lines[i], ":", -1);
      g_auto (GStrv) members = NULL;
      guint32 gid = 0;

      if (g_strv_length (fields) < 4 || !parse_id (fields[2], &gid))
        continue;
      members = g_strsplit (g_strstrip (fields[3]), ",", -1);
      if (g_strv_contains ((const char *const *)members, user))
        append_gid (gids, gid);
    }
}

/**
 * grove_spec_resolve_user:
 * @rootfs: the container's rootfs (absolute)
 * @user: (nullable): a user as an image's `User` gives it: `name`, `uid`, `name:group`,
 *   `uid:gid` (groups by name or number); %NULL or empty means root
 * @out_uid: (out): the uid
 * @out_gid: (out): the gid: the given group, else the user's passwd gid, else 0
 * @out_additional_gids: (out) (transfer full) (optional): #guint32 gids of the groups of
 *   /etc/group whose member list names the user
 * @error: return location
 *
 * Resolves @user through the rootfs' `/etc/passwd` and `/etc/group`, opened with
 * `RESOLVE_IN_ROOT` so that no symlink in the image reaches a file outside it.
 *
 * Returns: %TRUE on success; %GROVE_ERROR_NOT_FOUND for an unknown user or group name
 */
gboolean
grove_spec_resolve_user (const char *rootfs, const char *user, guint32 *out_uid, guint32 *out_gid,
                         GArray **out_additional_gids, GError **error)
{
  grove_autofd int root_fd = -1;
  g_autofree char *passwd = NULL;
  g_autofree char *group = NULL;
  g_autofree char *name = NULL;
  g_auto (GStrv) parts = NULL;
  g_autoptr (GArray) gids = g_array_new (FALSE, FALSE, sizeof (guint32));

  g_return_val_if_fail (rootfs != NULL, FALSE);
  g_return_val_if_fail (out_uid != NULL && out_gid != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  parts = g_strsplit (user != NULL ? user : "", ":", 2);
  root_fd = open (rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0)
    return grove_throw_errno_code (error, errno, "opening rootfs %s", rootfs);
  if (!read_rootfs_file (root_fd, rootfs, "/etc/passwd", &passwd, error)
      || !read_rootfs_file (root_fd, rootfs, "/etc/group", &group, error))
    return FALSE;
  if (!resolve_user_part (passwd, parts[0] != NULL && *parts[0] != '\0' ? parts[0] : "0", out_uid,
                          out_gid, &name, error))
    return FALSE;
  if (parts[0] != NULL && parts[1] != NULL && !resolve_group_part (group, parts[1], out_gid, error))
    return FALSE;
  collect_member_groups (group, name, gids);
  if (out_additional_gids != NULL)
    *out_additional_gids = g_steal_pointer (&gids);
  return TRUE;
}

/* process */

static gboolean
build_args (SpecContext *ctx, JsonObject *process, GError **error)
{
  g_autoptr (GPtrArray) command = NULL;
  g_autoptr (GPtrArray) args = NULL;
  g_autoptr (GPtrArray) entrypoint = NULL;
  g_autoptr (GPtrArray) cmd = NULL;
  g_autoptr (GPtrArray) result = g_ptr_array_new ();

  if (!grove_spec_read_strv (ctx->container, "", "command", &command, error)
      || !grove_spec_read_strv (ctx->container, "", "args", &args, error)
      || !grove_spec_read_strv (ctx->image, "image.config", "Entrypoint", &entrypoint, error)
      || !grove_spec_read_strv (ctx->image, "image.config", "Cmd", &cmd, error))
    return FALSE;
  /* Kubernetes: command replaces the Entrypoint, args the Cmd; a command drops the Cmd */
  if (grove_spec_strv_len (command) > 0 || ctx->input->is_infra)
    {
      if (command != NULL)
        g_ptr_array_extend (result, command, NULL, NULL);
      if (args != NULL)
        g_ptr_array_extend (result, args, NULL, NULL);
    }
  else
    {
      if (entrypoint != NULL)
        g_ptr_array_extend (result, entrypoint, NULL, NULL);
      if (grove_spec_strv_len (args) > 0)
        g_ptr_array_extend (result, args, NULL, NULL);
      else if (cmd != NULL)
        g_ptr_array_extend (result, cmd, NULL, NULL);
    }
  if (result->len == 0 && ctx->input->is_infra)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "no command: the infra container's config gives none");
  if (result->len == 0)
    return grove_throw (
        error, GROVE_ERROR_INVALID_ARGUMENT,
        "no command: the image has no Entrypoint or Cmd and the container gives none");
  json_object_set_array_member (process, "args", grove_spec_array_from_strings (result));
  return TRUE;
}

/* sets KEY=VALUE, replacing an earlier value of KEY in its place */
static void
env_set (GPtrArray *env, GHashTable *index, const char *key, const char *entry)
{
  gpointer position = NULL;

  if (g_hash_table_lookup_extended (index, key, NULL, &position))
    {
      g_free (env->pdata[GPOINTER_TO_UINT (position)]);
      env->pdata[GPOINTER_TO_UINT (position)] = g_strdup (entry);
      return;
    }
  g_hash_table_insert (index, g_strdup (key), GUINT_TO_POINTER (env->len));
  g_ptr_array_add (env, g_strdup (entry));
}

static gboolean
merge_image_env (SpecContext *ctx, GPtrArray *env, GHashTable *index, GError **error)
{
  g_autoptr (GPtrArray) image_env = NULL;

  if (!grove_spec_read_strv (ctx->image, "image.config", "Env", &image_env, error))
    return FALSE;
  for (guint i = 0; i < grove_spec_strv_len (image_env); i++)
    {
      const char *entry = g_ptr_array_index (image_env, i);
      const char *eq = strchr (entry, '=');
      g_autofree char *key = NULL;

      /* runtimes refuse an entry without '=' at start: fail here, naming it */
      if (eq == NULL || eq == entry)
        return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                            "image.config.Env[%u]: '%s' is not NAME=VALUE", i, entry);
      key = g_strndup (entry, eq - entry);
      env_set (env, index, key, entry);
    }
  return TRUE;
}

static gboolean
merge_cri_env (SpecContext *ctx, GPtrArray *env, GHashTable *index, GError **error)
{
  JsonArray *envs = NULL;

  if (!grove_spec_read_array (ctx->container, "", "envs", &envs, error))
    return FALSE;
  for (guint i = 0; envs != NULL && i < json_array_get_length (envs); i++)
    {
      JsonNode *node = json_array_get_element (envs, i);
      g_autofree char *path = g_strdup_printf ("envs[%u]", i);
      const char *key = NULL;
      const char *value = NULL;
      g_autofree char *entry = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        return grove_spec_throw_expected (error, "", path, "an object");
      if (!grove_spec_read_string (json_node_get_object (node), path, "key", &key, error)
          || !grove_spec_read_string (json_node_get_object (node), path, "value", &value, error))
        return FALSE;
      if (key == NULL || *key == '\0' || strchr (key, '=') != NULL)
        return grove_spec_throw_expected (error, path, "key", "a non-empty name without '='");
      entry = g_strconcat (key, "=", value != NULL ? value : "", NULL);
      env_set (env, index, key, entry);
    }
  return TRUE;
}

static gboolean
build_env (SpecContext *ctx, JsonObject *process, GError **error)
{
  g_autoptr (GPtrArray) env = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GHashTable) index = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  /* first, so that the image or the container can still set their own */
  if (ctx->hostname != NULL && *ctx->hostname != '\0')
    {
      g_autofree char *entry = g_strconcat ("HOSTNAME=", ctx->hostname, NULL);
      env_set (env, index, "HOSTNAME", entry);
    }
  if (!merge_image_env (ctx, env, index, error) || !merge_cri_env (ctx, env, index, error))
    return FALSE;
  if (!g_hash_table_contains (index, "PATH"))
    env_set (env, index, "PATH", DEFAULT_PATH_ENV);
  json_object_set_array_member (process, "env", grove_spec_array_from_strings (env));
  return TRUE;
}

static gboolean
build_cwd (SpecContext *ctx, JsonObject *process, GError **error)
{
  const char *cwd = NULL;
  const char *member = "workingDir";

  if (!grove_spec_read_string (ctx->container, "", "workingDir", &cwd, error))
    return FALSE;
  if (cwd == NULL || *cwd == '\0')
    {
      member = "image.config.WorkingDir";
      if (!grove_spec_read_string (ctx->image, "image.config", "WorkingDir", &cwd, error))
        return FALSE;
    }
  if (cwd == NULL || *cwd == '\0')
    cwd = "/";
  if (!g_path_is_absolute (cwd))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s: '%s' is not an absolute path",
                        member, cwd);
  json_object_set_string_member (process, "cwd", cwd);
  return TRUE;
}

static gboolean
check_id_range (const char *path, const char *member, gint64 value, GError **error)
{
  g_autofree char *full = grove_spec_member_path (path, member);

  if (value < 0 || value > ID_MAX)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s: %" G_GINT64_FORMAT " is not a valid id", full, value);
  return TRUE;
}

/* which user the container asks for, as an image's User string */
static gboolean
requested_user (SpecContext *ctx, char **out_user, gboolean *out_gid_set, guint32 *out_gid,
                GError **error)
{
  gboolean uid_set = FALSE;
  gint64 uid = 0;
  gint64 gid = 0;
  const char *username = NULL;
  const char *image_user = NULL;

  if (!grove_spec_read_int64_value (ctx->security, ctx->security_path, "runAsUser", &uid_set, &uid,
                                    error)
      || !grove_spec_read_int64_value (ctx->security, ctx->security_path, "runAsGroup", out_gid_set,
                                       &gid, error)
      || !grove_spec_read_string (ctx->security, ctx->security_path, "runAsUsername", &username,
                                  error)
      || !grove_spec_read_string (ctx->image, "image.config", "User", &image_user, error))
    return FALSE;
  if ((uid_set && !check_id_range (ctx->security_path, "runAsUser", uid, error))
      || (*out_gid_set && !check_id_range (ctx->security_path, "runAsGroup", gid, error)))
    return FALSE;
  *out_gid = (guint32)gid;
  if (uid_set)
    *out_user = g_strdup_printf ("%" G_GINT64_FORMAT, uid);
  else if (username != NULL && *username != '\0')
    *out_user = g_strdup (username);
  else
    *out_user = g_strdup (image_user != NULL ? image_user : "");
  return TRUE;
}

static gboolean
build_user (SpecContext *ctx, JsonObject *process, GError **error)
{
  g_autofree char *user_text = NULL;
  gboolean gid_set = FALSE;
  guint32 run_as_gid = 0;
  guint32 uid = 0;
  guint32 gid = 0;
  g_autoptr (GArray) gids = NULL;
  g_autoptr (GArray) supplemental = NULL;
  g_autoptr (JsonObject) user = json_object_new ();
  g_autoptr (JsonArray) additional = json_array_new ();
  int policy = SUPPLEMENTAL_GROUPS_MERGE;

  if (!requested_user (ctx, &user_text, &gid_set, &run_as_gid, error)
      || !grove_spec_read_int64_array (ctx->security, ctx->security_path, "supplementalGroups",
                                       &supplemental, error)
      || !grove_spec_read_enum (ctx->security, ctx->security_path, "supplementalGroupsPolicy",
                                supplemental_groups_policies, &policy, error))
    return FALSE;
  if (!grove_spec_resolve_user (ctx->input->rootfs, user_text, &uid, &gid, &gids, error))
    return FALSE;
  /* Strict: only the groups the config names, none from the image's /etc/group */
  if (policy == SUPPLEMENTAL_GROUPS_STRICT)
    g_array_set_size (gids, 0);
  if (gid_set)
    gid = run_as_gid;
  for (guint i = 0; i < supplemental->len; i++)
    {
      gint64 value = g_array_index (supplemental, gint64, i);
      g_autofree char *member = g_strdup_printf ("supplementalGroups[%u]", i);

      if (!check_id_range (ctx->security_path, member, value, error))
        return FALSE;
      append_gid (gids, (guint32)value);
    }
  for (guint i = 0; i < gids->len; i++)
    json_array_add_int_element (additional, g_array_index (gids, guint32, i));
  json_object_set_int_member (user, "uid", uid);
  json_object_set_int_member (user, "gid", gid);
  if (gids->len > 0)
    json_object_set_array_member (user, "additionalGids", g_steal_pointer (&additional));
  json_object_set_object_member (process, "user", g_steal_pointer (&user));
  return TRUE;
}

static int
last_capability (void)
{
  g_autofree char *contents = NULL;
  guint64 last = 0;
  int known = G_N_ELEMENTS (capability_names) - 1;

  if (!g_file_get_contents ("/proc/sys/kernel/cap_last_cap", &contents, NULL, NULL)
      || !g_ascii_string_to_unsigned (g_strstrip (contents), 10, 0, 63, &last, NULL))
    return known;
  return MIN ((int)last, known);
}

/* the capabilities in this process' bounding set: a runtime cannot grant any other */
static guint64
bounding_set (void)
{
  g_autofree char *status = NULL;
  const char *line = NULL;
  guint64 mask = 0;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL)
      || (line = strstr (status, "\nCapBnd:")) == NULL)
    return G_MAXUINT64;
  mask = g_ascii_strtoull (line + strlen ("\nCapBnd:"), NULL, 16);
  return mask != 0 ? mask : G_MAXUINT64;
}

static int
capability_from_name (const char *name)
{
  g_autofree char *upper = g_ascii_strup (name, -1);
  const char *bare = g_str_has_prefix (upper, "CAP_") ? upper + strlen ("CAP_") : upper;

  for (guint i = 0; i < G_N_ELEMENTS (capability_names); i++)
    if (capability_names[i] != NULL && strcmp (capability_names[i], bare) == 0)
      return (int)i;
  return -1;
}

/* a runtime can only pass on what the kernel knows and this process' bounding set holds */
static gboolean
capability_grantable (int cap, int last, guint64 bounding)
{
  return cap <= last && (bounding & (G_GUINT64_CONSTANT (1) << cap)) != 0;
}

static gboolean
apply_capability_names (GPtrArray *names, const char *path, const char *member, gboolean add,
                        gboolean *caps, GError **error)
{
  int last = last_capability ();
  guint64 bounding = bounding_set ();

  for (guint i = 0; i < grove_spec_strv_len (names); i++)
    {
      const char *name = g_ptr_array_index (names, i);
      int cap = capability_from_name (name);

      if (g_ascii_strcasecmp (name, "ALL") == 0)
        continue;
      if (cap < 0)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "%s.%s[%u]: unknown capability '%s'", path, member, i, name);
      if (add && !capability_grantable (cap, last, bounding))
        return grove_throw (error, GROVE_ERROR_PERMISSION_DENIED,
                            "%s.%s[%u]: cannot grant CAP_%s: it is not in this daemon's "
                            "capability bounding set",
                            path, member, i, capability_names[cap]);
      caps[cap] = add;
    }
  return TRUE;
}

static gboolean
strv_has_all (GPtrArray *names)
{
  for (guint i = 0; i < grove_spec_strv_len (names); i++)
    if (g_ascii_strcasecmp (g_ptr_array_index (names, i), "ALL") == 0)
      return TRUE;
  return FALSE;
}

static gboolean
select_capabilities (SpecContext *ctx, gboolean *caps, int last, GError **error)
{
  JsonObject *capabilities = NULL;
  g_autoptr (GPtrArray) add = NULL;
  g_autoptr (GPtrArray) drop = NULL;
  g_autofree char *path = grove_spec_member_path (ctx->security_path, "capabilities");
  guint64 bounding = bounding_set ();

  if (!grove_spec_read_object (ctx->security, ctx->security_path, "capabilities", &capabilities,
                               error)
      || !grove_spec_read_strv (capabilities, path, "addCapabilities", &add, error)
      || !grove_spec_read_strv (capabilities, path, "dropCapabilities", &drop, error))
    return FALSE;
  /* privileged, or adding ALL: everything this process can pass on */
  for (int cap = 0; cap <= last; cap++)
    caps[cap]
        = (ctx->privileged || strv_has_all (add)) && capability_grantable (cap, last, bounding);
  if (ctx->privileged)
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (default_capabilities); i++)
    caps[default_capabilities[i]] = TRUE;
  for (int cap = 0; cap <= last && strv_has_all (drop); cap++)
    caps[cap] = FALSE;
  return apply_capability_names (add, path, "addCapabilities", TRUE, caps, error)
         && apply_capability_names (drop, path, "dropCapabilities", FALSE, caps, error);
}

static gboolean
build_capabilities (SpecContext *ctx, JsonObject *process, GError **error)
{
  gboolean caps[G_N_ELEMENTS (capability_names)] = { FALSE };
  int last = last_capability ();
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (JsonObject) capabilities = json_object_new ();

  if (!select_capabilities (ctx, caps, last, error))
    return FALSE;
  for (int cap = 0; cap <= last; cap++)
    if (caps[cap])
      g_ptr_array_add (names, g_strconcat ("CAP_", capability_names[cap], NULL));
  json_object_set_array_member (capabilities, "bounding", grove_spec_array_from_strings (names));
  json_object_set_array_member (capabilities, "effective", grove_spec_array_from_strings (names));
  json_object_set_array_member (capabilities, "permitted", grove_spec_array_from_strings (names));
  json_object_set_array_member (capabilities, "inheritable", json_array_new ());
  json_object_set_array_member (capabilities, "ambient", json_array_new ());
  json_object_set_object_member (process, "capabilities", g_steal_pointer (&capabilities));
  return TRUE;
}

static gboolean
build_limits (SpecContext *ctx, JsonObject *process, GError **error)
{
  gint64 oom_score_adj = 0;
  gboolean no_new_privs = FALSE;
  guint64 nofile = NOFILE_DEFAULT;
  g_autoptr (JsonObject) rlimit = json_object_new ();
  g_autoptr (JsonArray) rlimits = json_array_new ();

  if (!grove_spec_read_int64 (ctx->resources, "linux.resources", "oomScoreAdj", &oom_score_adj,
                              error)
      || !grove_spec_read_bool (ctx->security, ctx->security_path, "noNewPrivs", &no_new_privs,
                                error))
    return FALSE;
  if (oom_score_adj < -1000 || oom_score_adj > 1000)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "linux.resources.oomScoreAdj: %" G_GINT64_FORMAT " is outside -1000..1000",
                        oom_score_adj);
  /* asking for less than our own fails at create: the runtime lacks CAP_SYS_RESOURCE */
  oom_score_adj = MAX (oom_score_adj, ctx->input->oom_score_adj_min);
  /* 0 means the caller does not know its hard limit */
  if (ctx->input->nofile_max > 0)
    nofile = MIN (nofile, ctx->input->nofile_max);
  json_object_set_string_member (rlimit, "type", "RLIMIT_NOFILE");
  json_object_set_int_member (rlimit, "hard", (gint64)nofile);
  json_object_set_int_member (rlimit, "soft", (gint64)nofile);
  json_array_add_object_element (rlimits, g_steal_pointer (&rlimit));
  json_object_set_array_member (process, "rlimits", g_steal_pointer (&rlimits));
  json_object_set_boolean_member (process, "noNewPrivileges", no_new_privs);
  json_object_set_int_member (process, "oomScoreAdj", oom_score_adj);
  return TRUE;
}

static gboolean
add_process (SpecContext *ctx, JsonObject *spec, GError **error)
{
  g_autoptr (JsonObject) process = json_object_new ();
  gboolean tty = FALSE;

  if (!grove_spec_read_bool (ctx->container, "", "tty", &tty, error))
    return FALSE;
  json_object_set_boolean_member (process, "terminal", tty);
  if (!build_user (ctx, process, error) || !build_args (ctx, process, error)
      || !build_env (ctx, process, error) || !build_cwd (ctx, process, error)
      || !build_capabilities (ctx, process, error) || !build_limits (ctx, process, error))
    return FALSE;
  json_object_set_object_member (spec, "process", g_steal_pointer (&process));
  return TRUE;
}

/* mounts */

static JsonObject *
new_mount (const char *destination, const char *type, const char *source,
           const char *const *options)
{
  JsonObject *mount = json_object_new ();

  json_object_set_string_member (mount, "destination", destination);
  json_object_set_string_member (mount, "type", type);
  json_object_set_string_member (mount, "source", source);
  json_object_set_array_member (mount, "options", grove_spec_array_from_strv (options));
  return mount;
}

static void
add_file_mount (GPtrArray *mounts, const char *destination, const char *source)
{
  static const char *const options[] = { "rbind", "rprivate", "rw", NULL };

  if (source != NULL)
    g_ptr_array_add (mounts, new_mount (destination, "bind", source, options));
}

static void
add_default_mounts (SpecContext *ctx, GPtrArray *mounts)
{
  static const char *const proc[] = { "nosuid", "noexec", "nodev", NULL };
  static const char *const dev[] = { "nosuid", "strictatime", "mode=755", "size=65536k", NULL };
  static const char *const pts[]
      = { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", NULL };
  static const char *const ro[] = { "nosuid", "noexec", "nodev", "ro", NULL };
  static const char *const rw[] = { "nosuid", "noexec", "nodev", "rw", NULL };
  static const char *const cgroup_ro[] = { "nosuid", "noexec", "nodev", "relatime", "ro", NULL };
  static const char *const cgroup_rw[] = { "nosuid", "noexec", "nodev", "relatime", "rw", NULL };
  static const char *const shm[]
      = { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL };
  static const char *const shm_bind[] = { "rbind", "rprivate", "nosuid", "noexec", "nodev", NULL };

  g_ptr_array_add (mounts, new_mount ("/proc", "proc", "proc", proc));
  g_ptr_array_add (mounts, new_mount ("/dev", "tmpfs", "tmpfs", dev));
  g_ptr_array_add (mounts, new_mount ("/dev/pts", "devpts", "devpts", pts));
  g_ptr_array_add (mounts, new_mount ("/dev/mqueue", "mqueue", "mqueue", proc));
  g_ptr_array_add (mounts, new_mount ("/sys", "sysfs", "sysfs", ctx->privileged ? rw : ro));
  g_ptr_array_add (mounts, new_mount ("/sys/fs/cgroup", "cgroup", "cgroup",
                                      ctx->privileged ? cgroup_rw : cgroup_ro));
  if (ctx->input->shm_path != NULL)
    g_ptr_array_add (mounts, new_mount ("/dev/shm", "bind", ctx->input->shm_path, shm_bind));
  else
    g_ptr_array_add (mounts, new_mount ("/dev/shm", "tmpfs", "shm", shm));
  add_file_mount (mounts, "/etc/hostname", ctx->input->hostname_path);
  add_file_mount (mounts, "/etc/hosts", ctx->input->hosts_path);
  add_file_mount (mounts, "/etc/resolv.conf", ctx->input->resolv_path);
}

static JsonArray *
array_member (JsonObject *object, const char *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

/* whether the CRI IDMappings @cri are the OCI mappings @oci, range by range */
static gboolean
same_mappings (JsonArray *cri, JsonArray *oci)
{
  const char *const cri_names[] = { "containerId", "hostId", "length" };
  const char *const oci_names[] = { "containerID", "hostID", "size" };

  if (oci == NULL || json_array_get_length (cri) != json_array_get_length (oci))
    return FALSE;
  for (guint i = 0; i < json_array_get_length (cri); i++)
    {
      JsonNode *node = json_array_get_element (cri, i);
      JsonObject *a = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      JsonObject *b = json_array_get_object_element (oci, i);

      for (guint j = 0; j < G_N_ELEMENTS (cri_names); j++)
        {
          gint64 value = -1;

          if (a == NULL || !grove_spec_read_int64 (a, "", cri_names[j], &value, NULL)
              || value != json_object_get_int_member_with_default (b, oci_names[j], -2))
            return FALSE;
        }
    }
  return TRUE;
}

/*
 * A mount's own uidMappings/gidMappings: every bind mount of a pod with a user namespace is
 * idmapped with the pod's mappings anyway, so those are accepted; anything else is not.
 */
static gboolean
check_cri_mount_mappings (JsonArray *uid_mappings, JsonArray *gid_mappings, JsonObject *id_mappings,
                          const char *path, GError **error)
{
  gboolean has_uids = uid_mappings != NULL && json_array_get_length (uid_mappings) > 0;
  gboolean has_gids = gid_mappings != NULL && json_array_get_length (gid_mappings) > 0;

  if (!has_uids && !has_gids)
    return TRUE;
  if (id_mappings == NULL)
    return grove_throw (error, GROVE_ERROR_UNSUPPORTED,
                        "%s: id-mapped mounts are supported only in a pod with its own user "
                        "namespace, with the pod's mappings; this pod has none",
                        path);
  if (!has_uids || !has_gids
      || !same_mappings (uid_mappings, array_member (id_mappings, "uidMappings"))
      || !same_mappings (gid_mappings, array_member (id_mappings, "gidMappings")))
    return grove_throw (error, GROVE_ERROR_UNSUPPORTED,
                        "%s: uidMappings and gidMappings must both equal the pod's user "
                        "namespace mappings (other id-mapped mounts are not supported)",
                        path);
  return TRUE;
}

static gboolean
check_cri_mount_unsupported (JsonObject *mount, const char *path, JsonObject *id_mappings,
                             GError **error)
{
  JsonObject *image = NULL;
  const char *image_name = NULL;
  JsonArray *uid_mappings = NULL;
  JsonArray *gid_mappings = NULL;
  gboolean recursive_read_only = FALSE;
  g_autofree char *image_path = grove_spec_member_path (path, "image");

  if (!grove_spec_read_object (mount, path, "image", &image, error)
      || !grove_spec_read_string (image, image_path, "image", &image_name, error)
      || !grove_spec_read_array (mount, path, "uidMappings", &uid_mappings, error)
      || !grove_spec_read_array (mount, path, "gidMappings", &gid_mappings, error)
      || !grove_spec_read_bool (mount, path, "recursiveReadOnly", &recursive_read_only, error))
    return FALSE;
  if (image_name != NULL && *image_name != '\0')
    return grove_throw (error, GROVE_ERROR_UNSUPPORTED, "%s.image: image volumes are not supported",
                        path);
  if (!check_cri_mount_mappings (uid_mappings, gid_mappings, id_mappings, path, error))
    return FALSE;
  if (recursive_read_only)
    return grove_throw (error, GROVE_ERROR_UNSUPPORTED,
                        "%s.recursiveReadOnly: recursive read-only mounts are not supported", path);
  return TRUE;
}

static gboolean
check_cri_mount_paths (const char *path, const char *container_path, const char *host_path,
                       GError **error)
{
  struct stat st;

  if (container_path == NULL || !g_path_is_absolute (container_path))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s.containerPath: '%s' is not an absolute path", path,
                        container_path != NULL ? container_path : "");
  if (host_path == NULL || !g_path_is_absolute (host_path))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s.hostPath: '%s' is not an absolute path", path,
                        host_path != NULL ? host_path : "");
  if (stat (host_path, &st) < 0)
    {
      if (errno == ENOENT)
        return grove_throw (error, GROVE_ERROR_NOT_FOUND, "%s.hostPath: %s does not exist", path,
                            host_path);
      return grove_throw_errno_code (error, errno, "%s.hostPath: stat %s", path, host_path);
    }
  return TRUE;
}

static JsonObject *
parse_cri_mount (JsonNode *node, const char *path, JsonObject *id_mappings, int *out_propagation,
                 GError **error)
{
  JsonObject *mount = NULL;
  const char *container_path = NULL;
  const char *host_path = NULL;
  gboolean readonly = FALSE;
  g_autofree char *destination = NULL;
  const char *options[] = { "rbind", NULL, NULL, NULL };

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      grove_spec_throw_expected (error, "", path, "an object");
      return NULL;
    }
  mount = json_node_get_object (node);
  if (!check_cri_mount_unsupported (mount, path, id_mappings, error)
      || !grove_spec_read_string (mount, path, "containerPath", &container_path, error)
      || !grove_spec_read_string (mount, path, "hostPath", &host_path, error)
      || !grove_spec_read_bool (mount, path, "readonly", &readonly, error)
      || !grove_spec_read_enum (mount, path, "propagation", propagations, out_propagation, error)
      || !check_cri_mount_paths (path, container_path, host_path, error))
    return NULL;
  if (*out_propagation == PROPAGATION_BIDIRECTIONAL)
    options[1] = "rshared";
  else if (*out_propagation == PROPAGATION_HOST_TO_CONTAINER)
    options[1] = "rslave";
  else
    options[1] = "rprivate";
  options[2] = readonly ? "ro" : "rw";
  destination = g_canonicalize_filename (container_path, "/");
  return new_mount (destination, "bind", host_path, options);
}

static guint
path_depth (const char *path)
{
  guint depth = 0;

  for (const char *p = path; *p != '\0'; p++)
    depth += *p == '/';
  return depth;
}

static gint
compare_mount_depth (gconstpointer a, gconstpointer b)
{
  JsonObject *mount_a = *(JsonObject *const *)a;
  JsonObject *mount_b = *(JsonObject *const *)b;
  guint depth_a = path_depth (json_object_get_string_member (mount_a, "destination"));
  guint depth_b = path_depth (json_object_get_string_member (mount_b, "destination"));

  return depth_a < depth_b ? -1 : depth_a > depth_b;
}

/* the CRI mounts, parents before what is mounted below them */
static gboolean
collect_cri_mounts (SpecContext *ctx, GPtrArray *mounts, const char **out_rootfs_propagation,
                    GError **error)
{
  JsonArray *array = NULL;

  *out_rootfs_propagation = NULL;
  if (!grove_spec_read_array (ctx->container, "", "mounts", &array, error))
    return FALSE;
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      g_autofree char *path = g_strdup_printf ("mounts[%u]", i);
      int propagation = PROPAGATION_PRIVATE;
      JsonObject *mount = parse_cri_mount (
          json_array_get_element (array, i), path,
          ctx->input->userns_path != NULL ? ctx->input->id_mappings : NULL, &propagation, error);

      if (mount == NULL)
        return FALSE;
      g_ptr_array_add (mounts, mount);
      /* propagation into or out of the container needs it below the rootfs too */
      if (propagation == PROPAGATION_BIDIRECTIONAL)
        *out_rootfs_propagation = "rshared";
      else if (propagation == PROPAGATION_HOST_TO_CONTAINER && *out_rootfs_propagation == NULL)
        *out_rootfs_propagation = "rslave";
    }
  g_ptr_array_sort (mounts, compare_mount_depth);
  return TRUE;
}

static gboolean
has_destination (GPtrArray *mounts, const char *destination)
{
  for (guint i = 0; i < mounts->len; i++)
    {
      JsonObject *mount = g_ptr_array_index (mounts, i);

      if (strcmp (json_object_get_string_member (mount, "destination"), destination) == 0)
        return TRUE;
    }
  return FALSE;
}

static gboolean
add_mounts (SpecContext *ctx, JsonObject *spec, JsonObject *linux_spec, GError **error)
{
  g_autoptr (GPtrArray) defaults
      = g_ptr_array_new_with_free_func ((GDestroyNotify)json_object_unref);
  g_autoptr (GPtrArray) cri = g_ptr_array_new_with_free_func ((GDestroyNotify)json_object_unref);
  g_autoptr (JsonArray) mounts = json_array_new ();
  const char *rootfs_propagation = NULL;

  add_default_mounts (ctx, defaults);
  if (!collect_cri_mounts (ctx, cri, &rootfs_propagation, error))
    return FALSE;
  for (guint i = 0; i < defaults->len; i++)
    {
      JsonObject *mount = g_ptr_array_index (defaults, i);

      /* a CRI mount at the same place replaces the default one */
      if (!has_destination (cri, json_object_get_string_member (mount, "destination")))
        json_array_add_object_element (mounts, json_object_ref (mount));
    }
  for (guint i = 0; i < cri->len; i++)
    json_array_add_object_element (mounts, json_object_ref (g_ptr_array_index (cri, i)));
  json_object_set_array_member (spec, "mounts", g_steal_pointer (&mounts));
  if (rootfs_propagation != NULL)
    json_object_set_string_member (linux_spec, "rootfsPropagation", rootfs_propagation);
  return TRUE;
}

/* namespaces */

static gboolean
read_namespace_modes (SpecContext *ctx, GError **error)
{
  JsonObject *options = NULL;
  JsonObject *pod_linux = NULL;
  JsonObject *pod_security = NULL;
  const char *path = "linux.securityContext.namespaceOptions";

  /* a container's own options replace the pod's as a whole, missing members being POD */
  if (!ctx->input->is_infra
      && !grove_spec_read_object (ctx->security, ctx->security_path, "namespaceOptions", &options,
                                  error))
    return FALSE;
  if (options == NULL)
    {
      path = "sandboxConfig.linux.securityContext.namespaceOptions";
      if (!grove_spec_read_object (ctx->pod, "sandboxConfig", "linux", &pod_linux, error)
          || !grove_spec_read_object (pod_linux, "sandboxConfig.linux", "securityContext",
                                      &pod_security, error)
          || !grove_spec_read_object (pod_security, "sandboxConfig.linux.securityContext",
                                      "namespaceOptions", &options, error))
        return FALSE;
    }
  if (!grove_spec_read_enum (options, path, "network", namespace_modes, &ctx->network_mode, error)
      || !grove_spec_read_enum (options, path, "pid", namespace_modes, &ctx->pid_mode, error)
      || !grove_spec_read_enum (options, path, "ipc", namespace_modes, &ctx->ipc_mode, error))
    return FALSE;
  if (ctx->network_mode == NS_TARGET || ctx->pid_mode == NS_TARGET || ctx->ipc_mode == NS_TARGET)
    return grove_throw (error, GROVE_ERROR_UNSUPPORTED,
                        "%s: the TARGET namespace mode is not supported", path);
  ctx->host_network = ctx->input->netns_path == NULL || ctx->network_mode == NS_NODE;
  return TRUE;
}

static void
add_namespace (JsonArray *namespaces, const char *type, const char *path)
{
  JsonObject *ns = json_object_new ();

  json_object_set_string_member (ns, "type", type);
  if (path != NULL)
    json_object_set_string_member (ns, "path", path);
  json_array_add_object_element (namespaces, ns);
}

static void
add_infra_namespace (SpecContext *ctx, JsonArray *namespaces, const char *type, const char *name)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/ns/%s", ctx->input->infra_pid, name);

  add_namespace (namespaces, type, path);
}

/* the pod's, made by the engine; the runtimes want its mappings as well as its path */
static gboolean
add_user_namespace (SpecContext *ctx, JsonArray *namespaces, JsonObject *linux_spec, GError **error)
{
  JsonObject *mappings = ctx->input->id_mappings;
  const char *const members[] = { "uidMappings", "gidMappings" };

  if (ctx->privileged)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s.privileged: a container of a pod with its own user namespace cannot "
                        "be privileged",
                        ctx->security_path);
  if (ctx->host_network || ctx->pid_mode == NS_NODE || ctx->ipc_mode == NS_NODE)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "container %s: a pod with its own user namespace cannot use the host's "
                        "network, PID or IPC namespace",
                        ctx->input->container_id);
  for (guint i = 0; i < G_N_ELEMENTS (members); i++)
    {
      JsonNode *node = mappings != NULL ? json_object_get_member (mappings, members[i]) : NULL;

      if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "user namespace %s was given without %s", ctx->input->userns_path,
                            members[i]);
      json_object_set_member (linux_spec, members[i], json_node_copy (node));
    }
  add_namespace (namespaces, "user", ctx->input->userns_path);
  return TRUE;
}

static gboolean
add_namespaces (SpecContext *ctx, JsonObject *linux_spec, GError **error)
{
  g_autoptr (JsonArray) namespaces = json_array_new ();
  gboolean infra = ctx->input->is_infra;
  gboolean joins_infra
      = !infra && (ctx->ipc_mode == NS_POD || ctx->pid_mode == NS_POD || !ctx->host_network);

  if (joins_infra && ctx->input->infra_pid <= 0)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "container %s joins the pod's namespaces but no infra PID was given",
                        ctx->input->container_id);
  add_namespace (namespaces, "mount", NULL);
  if (ctx->input->userns_path != NULL && !add_user_namespace (ctx, namespaces, linux_spec, error))
    return FALSE;
  if (!ctx->host_network)
    add_namespace (namespaces, "network", ctx->input->netns_path);
  if (ctx->ipc_mode != NS_NODE && (infra || ctx->ipc_mode == NS_CONTAINER))
    add_namespace (namespaces, "ipc", NULL);
  else if (ctx->ipc_mode != NS_NODE)
    add_infra_namespace (ctx, namespaces, "ipc", "ipc");
  /* with the host's network the pod keeps the host's UTS namespace too */
  if (!ctx->host_network && infra)
    add_namespace (namespaces, "uts", NULL);
  else if (!ctx->host_network)
    add_infra_namespace (ctx, namespaces, "uts", "uts");
  if (ctx->pid_mode != NS_NODE && (infra || ctx->pid_mode == NS_CONTAINER))
    add_namespace (namespaces, "pid", NULL);
  else if (ctx->pid_mode == NS_POD)
    add_infra_namespace (ctx, namespaces, "pid", "pid");
  json_object_set_array_member (linux_spec, "namespaces", g_steal_pointer (&namespaces));
  return TRUE;
}

/* devices */

static JsonObject *
new_device_rule (gboolean allow, const char *type, gint64 major, gint64 minor, const char *access)
{
  JsonObject *rule = json_object_new ();

  json_object_set_boolean_member (rule, "allow", allow);
  if (type != NULL)
    json_object_set_string_member (rule, "type", type);
  if (major >= 0)
    json_object_set_int_member (rule, "major", major);
  if (minor >= 0)
    json_object_set_int_member (rule, "minor", minor);
  json_object_set_string_member (rule, "access", access);
  return rule;
}

static void
add_default_device_rules (SpecContext *ctx, JsonArray *rules)
{
  /* null, zero, full, random, urandom, tty, ptmx */
  static const int char_devices[][2]
      = { { 1, 3 }, { 1, 5 }, { 1, 7 }, { 1, 8 }, { 1, 9 }, { 5, 0 }, { 5, 2 } };

  if (ctx->privileged)
    {
      json_array_add_object_element (rules, new_device_rule (TRUE, NULL, -1, -1, "rwm"));
      return;
    }
  json_array_add_object_element (rules, new_device_rule (FALSE, NULL, -1, -1, "rwm"));
  for (guint i = 0; i < G_N_ELEMENTS (char_devices); i++)
    json_array_add_object_element (
        rules, new_device_rule (TRUE, "c", char_devices[i][0], char_devices[i][1], "rwm"));
  /* every pts */
  json_array_add_object_element (rules, new_device_rule (TRUE, "c", 136, -1, "rwm"));
}

static gboolean
parse_cri_device (JsonNode *node, const char *path, JsonObject **out_device, JsonObject **out_rule,
                  GError **error)
{
  JsonObject *device = NULL;
  const char *container_path = NULL;
  const char *host_path = NULL;
  const char *permissions = NULL;
  struct stat st;
  const char *type = NULL;
  g_autoptr (JsonObject) entry = json_object_new ();

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return grove_spec_throw_expected (error, "", path, "an object");
  device = json_node_get_object (node);
  if (!grove_spec_read_string (device, path, "containerPath", &container_path, error)
      || !grove_spec_read_string (device, path, "hostPath", &host_path, error)
      || !grove_spec_read_string (device, path, "permissions", &permissions, error))
    return FALSE;
  if (permissions == NULL || *permissions == '\0')
    permissions = "rwm";
  if (strspn (permissions, "rwm") != strlen (permissions))
    return grove_spec_throw_expected (error, path, "permissions", "letters of \"rwm\"");
  if (container_path == NULL || !g_path_is_absolute (container_path))
    return grove_spec_throw_expected (error, path, "containerPath", "an absolute path");
  if (host_path == NULL || stat (host_path, &st) < 0)
    return grove_throw (error, GROVE_ERROR_NOT_FOUND, "%s.hostPath: device %s does not exist", path,
                        host_path != NULL ? host_path : "");
  if (!S_ISCHR (st.st_mode) && !S_ISBLK (st.st_mode))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s.hostPath: %s is not a device node",
                        path, host_path);
  type = S_ISCHR (st.st_mode) ? "c" : "b";
  json_object_set_string_member (entry, "path", container_path);
  json_object_set_string_member (entry, "type", type);
  json_object_set_int_member (entry, "major", major (st.st_rdev));
  json_object_set_int_member (entry, "minor", minor (st.st_rdev));
  json_object_set_int_member (entry, "fileMode", st.st_mode & 07777);
  json_object_set_int_member (entry, "uid", 0);
  json_object_set_int_member (entry, "gid", 0);
  *out_rule = new_device_rule (TRUE, type, major (st.st_rdev), minor (st.st_rdev), permissions);
  *out_device = g_steal_pointer (&entry);
  return TRUE;
}

/* privileged: every host device too, unless the config puts one of its own at that path */
static gboolean
add_host_devices (JsonArray *devices, GError **error)
{
  g_autoptr (JsonArray) host = grove_host_devices_list ("/dev", error);
  g_autoptr (GHashTable) taken = g_hash_table_new (g_str_hash, g_str_equal);

  if (host == NULL)
    return FALSE;
  for (guint i = 0; i < json_array_get_length (devices); i++)
    g_hash_table_add (taken, (gpointer)json_object_get_string_member (
                                 json_array_get_object_element (devices, i), "path"));
  for (guint i = 0; i < json_array_get_length (host); i++)
    {
      JsonObject *device = json_array_get_object_element (host, i);

      if (!g_hash_table_contains (taken, json_object_get_string_member (device, "path")))
        json_array_add_object_element (devices, json_object_ref (device));
    }
  return TRUE;
}

static gboolean
add_devices (SpecContext *ctx, JsonObject *linux_spec, JsonObject *resources, GError **error)
{
  JsonArray *array = NULL;
  g_autoptr (JsonArray) devices = json_array_new ();
  g_autoptr (JsonArray) rules = json_array_new ();

  add_default_device_rules (ctx, rules);
  if (!grove_spec_read_array (ctx->container, "", "devices", &array, error))
    return FALSE;
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      g_autofree char *path = g_strdup_printf ("devices[%u]", i);
      JsonObject *device = NULL;
      JsonObject *rule = NULL;

      if (!parse_cri_device (json_array_get_element (array, i), path, &device, &rule, error))
        return FALSE;
      json_array_add_object_element (devices, device);
      json_array_add_object_element (rules, rule);
    }
  if (ctx->privileged && !add_host_devices (devices, error))
    return FALSE;
  if (json_array_get_length (devices) > 0)
    json_object_set_array_member (linux_spec, "devices", g_steal_pointer (&devices));
  json_object_set_array_member (resources, "devices", g_steal_pointer (&rules));
  return TRUE;
}

/* resources */

static gboolean
read_nonnegative (JsonObject *resources, const char *member, gint64 *out, GError **error)
{
  if (!grove_spec_read_int64 (resources, "linux.resources", member, out, error))
    return FALSE;
  if (*out < 0)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "linux.resources.%s: %" G_GINT64_FORMAT " is negative", member, *out);
  return TRUE;
}

static gboolean
add_cpu_resources (SpecContext *ctx, JsonObject *resources, GError **error)
{
  gint64 shares = 0;
  gint64 quota = 0;
  gint64 period = 0;
  const char *cpus = NULL;
  const char *mems = NULL;
  g_autoptr (JsonObject) cpu = json_object_new ();

  if (!read_nonnegative (ctx->resources, "cpuShares", &shares, error)
      || !grove_spec_read_int64 (ctx->resources, "linux.resources", "cpuQuota", &quota, error)
      || !read_nonnegative (ctx->resources, "cpuPeriod", &period, error)
      || !grove_spec_read_string (ctx->resources, "linux.resources", "cpusetCpus", &cpus, error)
      || !grove_spec_read_string (ctx->resources, "linux.resources", "cpusetMems", &mems, error))
    return FALSE;
  if (shares != 0)
    json_object_set_int_member (cpu, "shares", shares);
  if (quota != 0)
    json_object_set_int_member (cpu, "quota", quota);
  if (period != 0)
    json_object_set_int_member (cpu, "period", period);
  if (cpus != NULL && *cpus != '\0')
    json_object_set_string_member (cpu, "cpus", cpus);
  if (mems != NULL && *mems != '\0')
    json_object_set_string_member (cpu, "mems", mems);
  if (json_object_get_size (cpu) > 0)
    json_object_set_object_member (resources, "cpu", g_steal_pointer (&cpu));
  return TRUE;
}

static gboolean
add_hugepage_limits (SpecContext *ctx, JsonObject *resources, GError **error)
{
  JsonArray *array = NULL;
  g_autoptr (JsonArray) limits = json_array_new ();

  if (!grove_spec_read_array (ctx->resources, "linux.resources", "hugepageLimits", &array, error))
    return FALSE;
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      g_autofree char *path = g_strdup_printf ("linux.resources.hugepageLimits[%u]", i);
      const char *page_size = NULL;
      gint64 limit = 0;
      JsonObject *entry = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        return grove_spec_throw_expected (error, "", path, "an object");
      if (!grove_spec_read_string (json_node_get_object (node), path, "pageSize", &page_size, error)
          || !grove_spec_read_int64 (json_node_get_object (node), path, "limit", &limit, error))
        return FALSE;
      if (page_size == NULL || *page_size == '\0')
        return grove_spec_throw_expected (error, path, "pageSize", "a page size such as \"2MB\"");
      entry = json_object_new ();
      json_object_set_string_member (entry, "pageSize", page_size);
      json_object_set_int_member (entry, "limit", limit);
      json_array_add_object_element (limits, entry);
    }
  if (json_array_get_length (limits) > 0)
    json_object_set_array_member (resources, "hugepageLimits", g_steal_pointer (&limits));
  return TRUE;
}

/* memory, CPU and hugepages: the part of linux.resources a running container can change */
static gboolean
fill_resources (SpecContext *ctx, JsonObject *resources, GError **error)
{
  g_autoptr (JsonObject) memory = json_object_new ();
  gint64 limit = 0;
  gint64 swap = 0;

  if (!read_nonnegative (ctx->resources, "memoryLimitInBytes", &limit, error)
      || !read_nonnegative (ctx->resources, "memorySwapLimitInBytes", &swap, error))
    return FALSE;
  if (limit != 0)
    json_object_set_int_member (memory, "limit", limit);
  if (swap != 0)
    json_object_set_int_member (memory, "swap", swap);
  if (json_object_get_size (memory) > 0)
    json_object_set_object_member (resources, "memory", g_steal_pointer (&memory));
  return add_cpu_resources (ctx, resources, error) && add_hugepage_limits (ctx, resources, error);
}

static gboolean
add_resources (SpecContext *ctx, JsonObject *linux_spec, GError **error)
{
  g_autoptr (JsonObject) resources = json_object_new ();

  if (!fill_resources (ctx, resources, error) || !add_devices (ctx, linux_spec, resources, error))
    return FALSE;
  json_object_set_object_member (linux_spec, "resources", g_steal_pointer (&resources));
  return TRUE;
}

/**
 * grove_spec_resources_from_cri:
 * @cri_resources: (nullable): CRI LinuxContainerResources in the protobuf JSON mapping
 * @error: return location
 *
 * Turns CRI resources into the memory, CPU and hugepage parts of OCI `linux.resources`:
 * what `runtime update` takes.
 *
 * Returns: (transfer full) (nullable): the OCI resources, or %NULL with @error set
 */
JsonObject *
grove_spec_resources_from_cri (JsonObject *cri_resources, GError **error)
{
  SpecContext ctx = { .resources = cri_resources };
  g_autoptr (JsonObject) resources = json_object_new ();

  if (!fill_resources (&ctx, resources, error))
    return NULL;
  return g_steal_pointer (&resources);
}

/* the rest of linux */

static gboolean
add_path_list (SpecContext *ctx, JsonObject *linux_spec, const char *member,
               const char *const *defaults, GError **error)
{
  g_autoptr (GPtrArray) paths = NULL;

  if (!grove_spec_read_strv (ctx->security, ctx->security_path, member, &paths, error))
    return FALSE;
  if (ctx->privileged)
    return TRUE;
  if (paths != NULL)
    json_object_set_array_member (linux_spec, member, grove_spec_array_from_strings (paths));
  else
    json_object_set_array_member (linux_spec, member, grove_spec_array_from_strv (defaults));
  return TRUE;
}

static gboolean
add_sysctls (SpecContext *ctx, JsonObject *linux_spec, GError **error)
{
  JsonObject *pod_linux = NULL;
  JsonObject *sysctls = NULL;
  JsonObjectIter iter;
  const char *name = NULL;

  if (!ctx->input->is_infra)
    return TRUE;
  if (!grove_spec_read_object (ctx->pod, "sandboxConfig", "linux", &pod_linux, error)
      || !grove_spec_read_string_map (pod_linux, "sandboxConfig.linux", "sysctls", &sysctls, error))
    return FALSE;
  if (sysctls == NULL || json_object_get_size (sysctls) == 0)
    return TRUE;
  json_object_iter_init (&iter, sysctls);
  while (json_object_iter_next (&iter, &name, NULL))
    if (!grove_sysctl_check (name, ctx->host_network, ctx->ipc_mode == NS_NODE, error))
      return g_prefix_error (error, "sandboxConfig.linux.sysctls: "), FALSE;
  json_object_set_object_member (linux_spec, "sysctl", json_object_ref (sysctls));
  return TRUE;
}

/* seccomp */

/* the deprecated seccompProfilePath: "runtime/default", "unconfined", "localhost/<path>" */
static gboolean
parse_seccomp_path (SpecContext *ctx, const char *path, int *out_type, const char **out_ref,
                    GError **error)
{
  *out_ref = NULL;
  if (path == NULL || *path == '\0' || strcmp (path, "unconfined") == 0)
    *out_type = SECCOMP_UNCONFINED;
  else if (strcmp (path, "runtime/default") == 0 || strcmp (path, "docker/default") == 0)
    *out_type = SECCOMP_RUNTIME_DEFAULT;
  else if (g_str_has_prefix (path, "localhost/"))
    {
      *out_type = SECCOMP_LOCALHOST;
      *out_ref = path + strlen ("localhost");
      /* "localhost//abs/path" and "localhost/abs/path" both name /abs/path */
      while ((*out_ref)[0] == '/' && (*out_ref)[1] == '/')
        (*out_ref)++;
    }
  else
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s.seccompProfilePath: '%s' is not runtime/default, unconfined or "
                        "localhost/<path>",
                        ctx->security_path, path);
  return TRUE;
}

/* the seccomp message, else the deprecated path; neither: unconfined, as containerd does */
static gboolean
read_seccomp_request (SpecContext *ctx, int *out_type, const char **out_ref, GError **error)
{
  JsonObject *seccomp = NULL;
  const char *path = NULL;
  g_autofree char *seccomp_path = grove_spec_member_path (ctx->security_path, "seccomp");

  if (!grove_spec_read_object (ctx->security, ctx->security_path, "seccomp", &seccomp, error)
      || !grove_spec_read_string (ctx->security, ctx->security_path, "seccompProfilePath", &path,
                                  error))
    return FALSE;
  if (seccomp == NULL)
    return parse_seccomp_path (ctx, path, out_type, out_ref, error);
  if (!grove_spec_read_enum (seccomp, seccomp_path, "profileType", seccomp_types, out_type, error)
      || !grove_spec_read_string (seccomp, seccomp_path, "localhostRef", out_ref, error))
    return FALSE;
  if (*out_type == SECCOMP_LOCALHOST && (*out_ref == NULL || !g_path_is_absolute (*out_ref)))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s.localhostRef: '%s' is not an absolute path", seccomp_path,
                        *out_ref != NULL ? *out_ref : "");
  return TRUE;
}

static const char *
seccomp_origin (SpecContext *ctx, int type, const char *ref)
{
  if (type == SECCOMP_LOCALHOST)
    return ref;
  return ctx->input->seccomp_default_origin != NULL ? ctx->input->seccomp_default_origin
                                                    : "RuntimeDefault";
}

static JsonObject *
load_seccomp_profile (SpecContext *ctx, int type, const char *ref, GError **error)
{
  if (type == SECCOMP_LOCALHOST)
    return grove_seccomp_load_profile (ref, error);
  if (ctx->input->seccomp_default == NULL)
    {
      grove_throw (error, GROVE_ERROR_UNSUPPORTED, "no RuntimeDefault seccomp profile is set up");
      return NULL;
    }
  return grove_seccomp_parse_profile (ctx->input->seccomp_default, -1,
                                      seccomp_origin (ctx, type, ref), error);
}

/* the capabilities the process gets, for the profile's conditions */
static GStrv
spec_capabilities (JsonObject *spec)
{
  JsonObject *process = json_object_get_object_member (spec, "process");
  JsonObject *capabilities = json_object_get_object_member (process, "capabilities");
  JsonArray *effective = json_object_get_array_member (capabilities, "effective");
  GStrv names = g_new0 (char *, json_array_get_length (effective) + 1);

  for (guint i = 0; i < json_array_get_length (effective); i++)
    names[i] = g_strdup (json_array_get_string_element (effective, i));
  return names;
}

static gboolean
add_seccomp (SpecContext *ctx, JsonObject *spec, JsonObject *linux_spec, GError **error)
{
  int type = SECCOMP_UNCONFINED;
  const char *ref = NULL;
  g_autoptr (JsonObject) profile = NULL;
  g_autoptr (JsonObject) seccomp = NULL;
  g_auto (GStrv) capabilities = NULL;

  if (!read_seccomp_request (ctx, &type, &ref, error))
    return FALSE;
  /* privileged containers run without a filter, whatever they ask for */
  if (ctx->privileged || type == SECCOMP_UNCONFINED)
    return TRUE;
  capabilities = spec_capabilities (spec);
  profile = load_seccomp_profile (ctx, type, ref, error);
  if (profile != NULL)
    seccomp = grove_seccomp_build (profile, seccomp_origin (ctx, type, ref),
                                   (const char *const *)capabilities, error);
  if (seccomp == NULL)
    return g_prefix_error (error, "%s.seccomp: ", ctx->security_path), FALSE;
  json_object_set_object_member (linux_spec, "seccomp", g_steal_pointer (&seccomp));
  return TRUE;
}

static gboolean
add_linux (SpecContext *ctx, JsonObject *spec, JsonObject *linux_spec, GError **error)
{
  if (!add_resources (ctx, linux_spec, error) || !add_namespaces (ctx, linux_spec, error)
      || !add_path_list (ctx, linux_spec, "maskedPaths", default_masked_paths, error)
      || !add_path_list (ctx, linux_spec, "readonlyPaths", default_readonly_paths, error)
      || !add_sysctls (ctx, linux_spec, error) || !add_seccomp (ctx, spec, linux_spec, error))
    return FALSE;
  json_object_set_string_member (linux_spec, "cgroupsPath", ctx->input->cgroups_path);
  json_object_set_object_member (spec, "linux", json_object_ref (linux_spec));
  return TRUE;
}

/* annotations */

static const char *
or_empty (const char *text)
{
  return text != NULL ? text : "";
}

static void
copy_string_map (JsonObject *from, JsonObject *to)
{
  JsonObjectIter iter;
  const char *key = NULL;
  JsonNode *value = NULL;

  if (from == NULL)
    return;
  json_object_iter_init (&iter, from);
  while (json_object_iter_next (&iter, &key, &value))
    json_object_set_string_member (to, key, json_node_get_string (value));
}

static gboolean
add_annotations (SpecContext *ctx, JsonObject *spec, GError **error)
{
  JsonObject *cri = NULL;
  JsonObject *pod_metadata = NULL;
  JsonObject *metadata = NULL;
  const char *pod_name = NULL;
  const char *pod_namespace = NULL;
  const char *pod_uid = NULL;
  const char *name = NULL;
  g_autoptr (JsonObject) annotations = json_object_new ();

  if (!grove_spec_read_string_map (ctx->container, "", "annotations", &cri, error)
      || !grove_spec_read_object (ctx->pod, "sandboxConfig", "metadata", &pod_metadata, error)
      || !grove_spec_read_string (pod_metadata, "sandboxConfig.metadata", "name", &pod_name, error)
      || !grove_spec_read_string (pod_metadata, "sandboxConfig.metadata", "namespace",
                                  &pod_namespace, error)
      || !grove_spec_read_string (pod_metadata, "sandboxConfig.metadata", "uid", &pod_uid, error)
      || !grove_spec_read_object (ctx->container, "", "metadata", &metadata, error)
      || !grove_spec_read_string (metadata, "metadata", "name", &name, error))
    return FALSE;
  copy_string_map (cri, annotations);
  json_object_set_string_member (annotations, GROVE_ANNOTATION_CONTAINER_TYPE,
                                 ctx->input->is_infra ? "sandbox" : "container");
  json_object_set_string_member (annotations, GROVE_ANNOTATION_SANDBOX_ID, ctx->input->sandbox_id);
  json_object_set_string_member (annotations, GROVE_ANNOTATION_SANDBOX_NAME, or_empty (pod_name));
  json_object_set_string_member (annotations, GROVE_ANNOTATION_SANDBOX_NAMESPACE,
                                 or_empty (pod_namespace));
  json_object_set_string_member (annotations, GROVE_ANNOTATION_SANDBOX_UID, or_empty (pod_uid));
  if (!ctx->input->is_infra)
    {
      json_object_set_string_member (annotations, GROVE_ANNOTATION_CONTAINER_NAME, or_empty (name));
      json_object_set_string_member (annotations, GROVE_ANNOTATION_IMAGE_NAME,
                                     or_empty (ctx->input->image_name));
    }
  json_object_set_object_member (spec, "annotations", g_steal_pointer (&annotations));
  return TRUE;
}

/* putting it together */

static gboolean
context_init (SpecContext *ctx, const GroveSpecInput *input, GError **error)
{
  JsonObject *linux_config = NULL;
  JsonObject *pod_linux = NULL;

  ctx->input = input;
  ctx->container = input->container_config;
  ctx->pod = input->pod_config;
  ctx->security_path = "linux.securityContext";
  if (!grove_spec_read_object (input->image_config, "image", "config", &ctx->image, error)
      || !grove_spec_read_object (ctx->container, "", "linux", &linux_config, error)
      || !grove_spec_read_object (linux_config, "linux", "securityContext", &ctx->security, error)
      || !grove_spec_read_object (linux_config, "linux", "resources", &ctx->resources, error)
      || !grove_spec_read_object (ctx->pod, "sandboxConfig", "linux", &pod_linux, error))
    return FALSE;
  /* the infra container runs with the pod's security context unless given its own */
  if (input->is_infra && ctx->security == NULL)
    {
      ctx->security_path = "sandboxConfig.linux.securityContext";
      if (!grove_spec_read_object (pod_linux, "sandboxConfig.linux", "securityContext",
                                   &ctx->security, error))
        return FALSE;
    }
  if (!grove_spec_read_bool (ctx->security, ctx->security_path, "privileged", &ctx->privileged,
                             error)
      || !grove_spec_read_string (ctx->pod, "sandboxConfig", "hostname", &ctx->hostname, error))
    return FALSE;
  return read_namespace_modes (ctx, error);
}

static gboolean
add_root (SpecContext *ctx, JsonObject *spec, GError **error)
{
  g_autoptr (JsonObject) root = json_object_new ();
  gboolean readonly = FALSE;

  if (!grove_spec_read_bool (ctx->security, ctx->security_path, "readonlyRootfs", &readonly, error))
    return FALSE;
  json_object_set_string_member (root, "path", ctx->input->rootfs);
  json_object_set_boolean_member (root, "readonly", readonly);
  json_object_set_object_member (spec, "root", g_steal_pointer (&root));
  /* every container of the pod shares the infra container's UTS namespace */
  if (!ctx->host_network && ctx->hostname != NULL && *ctx->hostname != '\0')
    json_object_set_string_member (spec, "hostname", ctx->hostname);
  return TRUE;
}

/**
 * grove_spec_generate:
 * @input: what the spec is made of
 * @error: return location
 *
 * Generates the OCI runtime spec (1.0.2, as runc 1.1 and crun 1.8 read it) of one container
 * from its CRI configs and its image's config, with the process, user, capabilities,
 * mounts, namespaces, devices, resources and annotations containerd or CRI-O would give it.
 *
 * Returns: (transfer full) (nullable): the `config.json` document, or %NULL with @error set:
 *   %GROVE_ERROR_INVALID_ARGUMENT for malformed input (the message names the member),
 *   %GROVE_ERROR_NOT_FOUND for a missing user, group, mount source or device
 */
JsonNode *
grove_spec_generate (const GroveSpecInput *input, GError **error)
{
  SpecContext ctx = { 0 };
  g_autoptr (JsonObject) spec = json_object_new ();
  g_autoptr (JsonObject) linux_spec = json_object_new ();
  JsonNode *node = NULL;

  g_return_val_if_fail (input != NULL, NULL);
  g_return_val_if_fail (input->container_id != NULL && input->sandbox_id != NULL, NULL);
  g_return_val_if_fail (input->container_config != NULL, NULL);
  g_return_val_if_fail (input->pod_config != NULL, NULL);
  g_return_val_if_fail (input->rootfs != NULL && g_path_is_absolute (input->rootfs), NULL);
  g_return_val_if_fail (input->cgroups_path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!context_init (&ctx, input, error))
    return NULL;
  json_object_set_string_member (spec, "ociVersion", "1.0.2-dev");
  if (!add_process (&ctx, spec, error) || !add_root (&ctx, spec, error)
      || !add_mounts (&ctx, spec, linux_spec, error) || !add_annotations (&ctx, spec, error)
      || !add_linux (&ctx, spec, linux_spec, error))
    return NULL;
  node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, g_steal_pointer (&spec));
  return node;
}
