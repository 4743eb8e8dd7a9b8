/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveSeccomp"

#include <errno.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "grove-resources-generated.h"
#include "grove-seccomp.h"
#include "grove-utils.h"

/*
 * Seccomp profiles, in Docker's format (archMap, includes/excludes) or the OCI one
 * (architectures), become the OCI spec's linux.seccomp. runc and crun skip system call
 * names they cannot resolve, so a misspelt name would silently leave a hole or lose an
 * allowance: every name, action and operator is checked here with libseccomp, and the
 * filter is compiled to BPF, so that a profile that cannot load fails at create.
 */

#define ERRNO_MAX 4095
#define ARG_INDEX_MAX 5
#define PROFILE_SIZE_MAX (4 * 1024 * 1024)

G_DEFINE_AUTO_CLEANUP_FREE_FUNC (scmp_filter_ctx, seccomp_release, NULL)

typedef struct
{
  const char *name;
  uint32_t action; /* for those that take an errno: the action with errno 0 */
  gboolean takes_errno;
} ActionInfo;

static const ActionInfo actions[] = {
  { "SCMP_ACT_KILL", SCMP_ACT_KILL, FALSE },
  { "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, FALSE },
  { "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, FALSE },
  { "SCMP_ACT_TRAP", SCMP_ACT_TRAP, FALSE },
  { "SCMP_ACT_ERRNO", SCMP_ACT_ERRNO (0), TRUE },
  { "SCMP_ACT_TRACE", SCMP_ACT_TRACE (0), TRUE },
  { "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, FALSE },
  { "SCMP_ACT_LOG", SCMP_ACT_LOG, FALSE },
};

static const struct
{
  const char *name;
  enum scmp_compare op;
} operators[] = {
  { "SCMP_CMP_NE", SCMP_CMP_NE },
  { "SCMP_CMP_LT", SCMP_CMP_LT },
  { "SCMP_CMP_LE", SCMP_CMP_LE },
  { "SCMP_CMP_EQ", SCMP_CMP_EQ },
  { "SCMP_CMP_GE", SCMP_CMP_GE },
  { "SCMP_CMP_GT", SCMP_CMP_GT },
  { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

static const char *const filter_flags[] = {
  "SECCOMP_FILTER_FLAG_TSYNC",
  "SECCOMP_FILTER_FLAG_LOG",
  "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
  NULL,
};

/* uname's machine → the Go name Docker's includes.arches use */
static const char *const go_arch_names[][2] = {
  { "x86_64", "amd64" }, { "aarch64", "arm64" },   { "i686", "386" },    { "i386", "386" },
  { "armv7l", "arm" },   { "ppc64le", "ppc64le" }, { "s390x", "s390x" }, { "riscv64", "riscv64" },
};

/* what one build needs besides the profile; nothing is owned */
typedef struct
{
  const char *origin;
  const char *const *capabilities;
  const char *machine;
  guint kernel_major;
  guint kernel_minor;
} Builder;

static gboolean throw_profile (GError **error, Builder *b, const char *where, const char *format,
                               ...) G_GNUC_PRINTF (4, 5);

static gboolean
throw_profile (GError **error, Builder *b, const char *where, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "seccomp profile %s: %s%s%s", b->origin,
                      where, *where != '\0' ? ": " : "", message);
}

/* a misspelt member would otherwise be a silently ignored rule or condition */
static gboolean
check_members (Builder *b, JsonObject *obj, const char *where, const char *const *known,
               GError **error)
{
  JsonObjectIter iter;
  const char *member = NULL;
  JsonNode *value = NULL;

  json_object_iter_init (&iter, obj);
  while (json_object_iter_next (&iter, &member, &value))
    if (!g_strv_contains (known, member) && strcmp (member, "comment") != 0)
      return throw_profile (error, b, where, "unknown member '%s'", member);
  return TRUE;
}

static JsonNode *
lookup (JsonObject *obj, const char *member)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, member) : NULL;

  return node != NULL && !JSON_NODE_HOLDS_NULL (node) ? node : NULL;
}

static gboolean
read_string (Builder *b, JsonObject *obj, const char *where, const char *member, const char **out,
             GError **error)
{
  JsonNode *node = lookup (obj, member);

  *out = NULL;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return throw_profile (error, b, where, "%s: expected a string", member);
  *out = json_node_get_string (node);
  return TRUE;
}

/* absent: -1 */
static gboolean
read_uint (Builder *b, JsonObject *obj, const char *where, const char *member, gint64 max,
           gint64 *out, GError **error)
{
  JsonNode *node = lookup (obj, member);

  *out = -1;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64
      || json_node_get_int (node) < 0 || json_node_get_int (node) > max)
    return throw_profile (error, b, where, "%s: expected an integer from 0 to %" G_GINT64_FORMAT,
                          member, max);
  *out = json_node_get_int (node);
  return TRUE;
}

/* absent: %NULL; otherwise every element is a string */
static gboolean
read_strings (Builder *b, JsonObject *obj, const char *where, const char *member, JsonArray **out,
              GError **error)
{
  JsonNode *node = lookup (obj, member);

  *out = NULL;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return throw_profile (error, b, where, "%s: expected an array of strings", member);
  for (guint i = 0; i < json_array_get_length (json_node_get_array (node)); i++)
    {
      JsonNode *element = json_array_get_element (json_node_get_array (node), i);

      if (!JSON_NODE_HOLDS_VALUE (element) || json_node_get_value_type (element) != G_TYPE_STRING)
        return throw_profile (error, b, where, "%s[%u]: expected a string", member, i);
    }
  *out = json_node_get_array (node);
  return TRUE;
}

static const ActionInfo *
find_action (const char *name)
{
  for (guint i = 0; name != NULL && i < G_N_ELEMENTS (actions); i++)
    if (strcmp (actions[i].name, name) == 0)
      return &actions[i];
  return NULL;
}

/* @errno_ret -1: unset, which the runtimes read as EPERM */
static gboolean
check_action (Builder *b, const char *where, const char *name, gint64 errno_ret, GError **error)
{
  const ActionInfo *info = find_action (name);

  if (name == NULL)
    return throw_profile (error, b, where, "no action");
  if (strcmp (name, "SCMP_ACT_NOTIFY") == 0)
    return grove_throw (error, GROVE_ERROR_UNSUPPORTED,
                        "seccomp profile %s: %s: SCMP_ACT_NOTIFY is not supported (Grove runs "
                        "no seccomp agent)",
                        b->origin, where);
  if (info == NULL)
    return throw_profile (error, b, where, "unknown action '%s'", name);
  if (errno_ret >= 0 && !info->takes_errno)
    return throw_profile (error, b, where, "errnoRet given with %s, which returns no errno", name);
  return TRUE;
}

static uint32_t
action_value (const char *name, gint64 errno_ret)
{
  const ActionInfo *info = find_action (name);

  g_return_val_if_fail (info != NULL, SCMP_ACT_KILL_PROCESS);
  if (!info->takes_errno)
    return info->action;
  return info->action | (uint32_t)(errno_ret >= 0 ? errno_ret : EPERM);
}

/* "SCMP_ARCH_X86_64" → libseccomp's token; 0 when unknown */
static uint32_t
arch_token (const char *name)
{
  g_autofree char *lower = NULL;

  if (!g_str_has_prefix (name, "SCMP_ARCH_"))
    return 0;
  lower = g_ascii_strdown (name + strlen ("SCMP_ARCH_"), -1);
  return seccomp_arch_resolve_name (lower);
}

static gboolean
add_arch (Builder *b, JsonArray *arches, const char *where, const char *name, GError **error)
{
  if (arch_token (name) == 0)
    return throw_profile (error, b, where, "unknown architecture '%s'", name);
  for (guint i = 0; i < json_array_get_length (arches); i++)
    if (strcmp (json_array_get_string_element (arches, i), name) == 0)
      return TRUE;
  json_array_add_string_element (arches, name);
  return TRUE;
}

static gboolean
arch_is_native (const char *name)
{
  return arch_token (name) == seccomp_arch_native ();
}

/* Docker's archMap: the native architecture's entry gives the compat ones */
static gboolean
build_arch_map (Builder *b, JsonArray *map, JsonArray *arches, GError **error)
{
  static const char *const known[] = { "architecture", "subArchitectures", NULL };

  for (guint i = 0; i < json_array_get_length (map); i++)
    {
      JsonNode *node = json_array_get_element (map, i);
      g_autofree char *where = g_strdup_printf ("archMap[%u]", i);
      const char *arch = NULL;
      JsonArray *subs = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        return throw_profile (error, b, where, "expected an object");
      if (!check_members (b, json_node_get_object (node), where, known, error)
          || !read_string (b, json_node_get_object (node), where, "architecture", &arch, error)
          || !read_strings (b, json_node_get_object (node), where, "subArchitectures", &subs,
                            error))
        return FALSE;
      if (arch == NULL || arch_token (arch) == 0)
        return throw_profile (error, b, where, "unknown architecture '%s'", arch ? arch : "");
      for (guint j = 0; subs != NULL && j < json_array_get_length (subs); j++)
        if (arch_token (json_array_get_string_element (subs, j)) == 0)
          return throw_profile (error, b, where, "unknown architecture '%s'",
                                json_array_get_string_element (subs, j));
      if (!arch_is_native (arch))
        continue;
      add_arch (b, arches, where, arch, NULL);
      for (guint j = 0; subs != NULL && j < json_array_get_length (subs); j++)
        add_arch (b, arches, where, json_array_get_string_element (subs, j), NULL);
    }
  return TRUE;
}

static gboolean
build_arches (Builder *b, JsonObject *profile, JsonObject *oci, GError **error)
{
  JsonArray *listed = NULL;
  JsonArray *map = NULL;
  JsonNode *map_node = lookup (profile, "archMap");
  g_autoptr (JsonArray) arches = json_array_new ();

  if (!read_strings (b, profile, "", "architectures", &listed, error))
    return FALSE;
  if (map_node != NULL && !JSON_NODE_HOLDS_ARRAY (map_node))
    return throw_profile (error, b, "archMap", "expected an array");
  map = map_node != NULL ? json_node_get_array (map_node) : NULL;
  if (listed != NULL && map != NULL)
    return throw_profile (error, b, "", "architectures and archMap both given");
  for (guint i = 0; listed != NULL && i < json_array_get_length (listed); i++)
    {
      g_autofree char *where = g_strdup_printf ("architectures[%u]", i);

      if (!add_arch (b, arches, where, json_array_get_string_element (listed, i), error))
        return FALSE;
    }
  if (map != NULL && !build_arch_map (b, map, arches, error))
    return FALSE;
  if (json_array_get_length (arches) > 0)
    json_object_set_array_member (oci, "architectures", g_steal_pointer (&arches));
  return TRUE;
}

static gboolean
build_flags (Builder *b, JsonObject *profile, JsonObject *oci, GError **error)
{
  JsonArray *flags = NULL;
  const char *listener = NULL;

  if (!read_strings (b, profile, "", "flags", &flags, error)
      || !read_string (b, profile, "", "listenerPath", &listener, error))
    return FALSE;
  if (listener != NULL && *listener != '\0')
    return grove_throw (error, GROVE_ERROR_UNSUPPORTED,
                        "seccomp profile %s: listenerPath: seccomp agents are not supported",
                        b->origin);
  for (guint i = 0; flags != NULL && i < json_array_get_length (flags); i++)
    if (!g_strv_contains (filter_flags, json_array_get_string_element (flags, i)))
      return throw_profile (error, b, "flags", "unknown flag '%s'",
                            json_array_get_string_element (flags, i));
  if (flags != NULL && json_array_get_length (flags) > 0)
    json_object_set_array_member (oci, "flags", json_array_ref (flags));
  return TRUE;
}

/* conditions of Docker's includes/excludes */

static gboolean
strings_contain (JsonArray *array, const char *value)
{
  for (guint i = 0; array != NULL && value != NULL && i < json_array_get_length (array); i++)
    if (strcmp (json_array_get_string_element (array, i), value) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
arches_hold_native (Builder *b, JsonArray *arches)
{
  if (strings_contain (arches, b->machine))
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (go_arch_names); i++)
    if (strcmp (go_arch_names[i][0], b->machine) == 0
        && strings_contain (arches, go_arch_names[i][1]))
      return TRUE;
  return FALSE;
}

static gboolean
parse_kernel_version (const char *text, guint *out_major, guint *out_minor)
{
  g_auto (GStrv) parts = g_strsplit (text, ".", 3);
  guint64 major = 0;
  guint64 minor = 0;
  g_autofree char *minor_digits = NULL;

  if (parts[0] == NULL || parts[1] == NULL
      || !g_ascii_string_to_unsigned (parts[0], 10, 0, G_MAXUINT, &major, NULL))
    return FALSE;
  minor_digits = g_strndup (parts[1], strspn (parts[1], "0123456789"));
  if (!g_ascii_string_to_unsigned (minor_digits, 10, 0, G_MAXUINT, &minor, NULL))
    return FALSE;
  *out_major = major;
  *out_minor = minor;
  return TRUE;
}

/* what one includes or excludes object says about this container and machine */
typedef struct
{
  gboolean has_caps;
  gboolean all_caps;
  gboolean any_cap;
  gboolean has_arches;
  gboolean arch;
  gboolean has_kernel;
  gboolean kernel;
} Condition;

static void
match_caps (Builder *b, JsonArray *caps, Condition *out)
{
  out->has_caps = caps != NULL && json_array_get_length (caps) > 0;
  out->all_caps = TRUE;
  out->any_cap = FALSE;
  for (guint i = 0; out->has_caps && i < json_array_get_length (caps); i++)
    {
      gboolean held = b->capabilities != NULL
                      && g_strv_contains (b->capabilities, json_array_get_string_element (caps, i));

      out->all_caps = out->all_caps && held;
      out->any_cap = out->any_cap || held;
    }
}

static gboolean
read_condition (Builder *b, JsonNode *node, const char *where, Condition *out, GError **error)
{
  static const char *const known[] = { "caps", "arches", "minKernel", NULL };
  JsonObject *condition = NULL;
  JsonArray *caps = NULL;
  JsonArray *arches = NULL;
  const char *min_kernel = NULL;
  guint major = 0;
  guint minor = 0;

  memset (out, 0, sizeof (*out));
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return throw_profile (error, b, where, "expected an object");
  condition = json_node_get_object (node);
  if (!check_members (b, condition, where, known, error)
      || !read_strings (b, condition, where, "caps", &caps, error)
      || !read_strings (b, condition, where, "arches", &arches, error)
      || !read_string (b, condition, where, "minKernel", &min_kernel, error))
    return FALSE;
  if (min_kernel != NULL && !parse_kernel_version (min_kernel, &major, &minor))
    return throw_profile (error, b, where, "minKernel: '%s' is not a version such as \"4.8\"",
                          min_kernel);
  match_caps (b, caps, out);
  out->has_arches = arches != NULL && json_array_get_length (arches) > 0;
  out->arch = out->has_arches && arches_hold_native (b, arches);
  out->has_kernel = min_kernel != NULL;
  out->kernel
      = out->has_kernel
        && (b->kernel_major > major || (b->kernel_major == major && b->kernel_minor >= minor));
  return TRUE;
}

/* includes: each condition given holds (all its caps); excludes: none holds (no cap of it) */
static gboolean
entry_applies (Builder *b, JsonObject *entry, const char *where, gboolean *out, GError **error)
{
  g_autofree char *where_in = g_strdup_printf ("%s.includes", where);
  g_autofree char *where_ex = g_strdup_printf ("%s.excludes", where);
  Condition in = { 0 };
  Condition ex = { 0 };

  if (!read_condition (b, lookup (entry, "includes"), where_in, &in, error)
      || !read_condition (b, lookup (entry, "excludes"), where_ex, &ex, error))
    return FALSE;
  *out = (!in.has_caps || in.all_caps) && (!in.has_arches || in.arch)
         && (!in.has_kernel || in.kernel) && !(ex.has_caps && ex.any_cap)
         && !(ex.has_arches && ex.arch) && !(ex.has_kernel && ex.kernel);
  return TRUE;
}

/* rules */

static enum scmp_compare
find_operator (const char *name)
{
  for (guint i = 0; name != NULL && i < G_N_ELEMENTS (operators); i++)
    if (strcmp (operators[i].name, name) == 0)
      return operators[i].op;
  return _SCMP_CMP_MIN;
}

static gboolean
build_arg (Builder *b, JsonNode *node, const char *where, JsonArray *out, GError **error)
{
  static const char *const known[] = { "index", "value", "valueTwo", "op", NULL };
  JsonObject *arg = NULL;
  gint64 index = 0;
  gint64 value = 0;
  gint64 value_two = 0;
  const char *op = NULL;
  JsonObject *copy = NULL;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return throw_profile (error, b, where, "expected an object");
  arg = json_node_get_object (node);
  if (!check_members (b, arg, where, known, error)
      || !read_uint (b, arg, where, "index", ARG_INDEX_MAX, &index, error)
      || !read_uint (b, arg, where, "value", G_MAXINT64, &value, error)
      || !read_uint (b, arg, where, "valueTwo", G_MAXINT64, &value_two, error)
      || !read_string (b, arg, where, "op", &op, error))
    return FALSE;
  if (index < 0)
    return throw_profile (error, b, where, "no index");
  if (find_operator (op) == _SCMP_CMP_MIN)
    return throw_profile (error, b, where, "unknown operator '%s'", op != NULL ? op : "");
  copy = json_object_new ();
  json_object_set_int_member (copy, "index", index);
  json_object_set_int_member (copy, "value", MAX (value, 0));
  json_object_set_int_member (copy, "valueTwo", MAX (value_two, 0));
  json_object_set_string_member (copy, "op", op);
  json_array_add_object_element (out, copy);
  return TRUE;
}

/* names: Docker's "names" or the older single "name" */
static gboolean
build_names (Builder *b, JsonObject *entry, const char *where, JsonArray *out, GError **error)
{
  JsonArray *names = NULL;
  const char *name = NULL;

  if (!read_strings (b, entry, where, "names", &names, error)
      || !read_string (b, entry, where, "name", &name, error))
    return FALSE;
  if (name != NULL)
    json_array_add_string_element (out, name);
  for (guint i = 0; names != NULL && i < json_array_get_length (names); i++)
    json_array_add_string_element (out, json_array_get_string_element (names, i));
  if (json_array_get_length (out) == 0)
    return throw_profile (error, b, where, "no system call names");
  for (guint i = 0; i < json_array_get_length (out); i++)
    {
      const char *syscall = json_array_get_string_element (out, i);

      /* names of other architectures resolve to negative pseudo numbers; unknown ones fail */
      if (seccomp_syscall_resolve_name (syscall) == __NR_SCMP_ERROR)
        return throw_profile (error, b, where, "unknown system call '%s'", syscall);
    }
  return TRUE;
}

static gboolean
build_rule (Builder *b, JsonNode *node, const char *where, JsonArray *syscalls, GError **error)
{
  static const char *const known[]
      = { "names", "name", "action", "errnoRet", "args", "includes", "excludes", NULL };
  JsonObject *entry = NULL;
  const char *action = NULL;
  gint64 errno_ret = -1;
  JsonNode *args = NULL;
  gboolean applies = TRUE;
  g_autoptr (JsonArray) names = json_array_new ();
  g_autoptr (JsonArray) oci_args = json_array_new ();
  g_autoptr (JsonObject) rule = json_object_new ();

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return throw_profile (error, b, where, "expected an object");
  entry = json_node_get_object (node);
  if (!check_members (b, entry, where, known, error) || !build_names (b, entry, where, names, error)
      || !read_string (b, entry, where, "action", &action, error)
      || !read_uint (b, entry, where, "errnoRet", ERRNO_MAX, &errno_ret, error)
      || !check_action (b, where, action, errno_ret, error)
      || !entry_applies (b, entry, where, &applies, error))
    return FALSE;
  args = lookup (entry, "args");
  if (args != NULL && !JSON_NODE_HOLDS_ARRAY (args))
    return throw_profile (error, b, where, "args: expected an array");
  for (guint i = 0; args != NULL && i < json_array_get_length (json_node_get_array (args)); i++)
    {
      g_autofree char *arg_where = g_strdup_printf ("%s.args[%u]", where, i);

      if (!build_arg (b, json_array_get_element (json_node_get_array (args), i), arg_where,
                      oci_args, error))
        return FALSE;
    }
  if (!applies)
    return TRUE;
  json_object_set_array_member (rule, "names", g_steal_pointer (&names));
  json_object_set_string_member (rule, "action", action);
  if (errno_ret >= 0)
    json_object_set_int_member (rule, "errnoRet", errno_ret);
  if (json_array_get_length (oci_args) > 0)
    json_object_set_array_member (rule, "args", g_steal_pointer (&oci_args));
  json_array_add_object_element (syscalls, g_steal_pointer (&rule));
  return TRUE;
}

static gboolean
build_rules (Builder *b, JsonObject *profile, JsonObject *oci, GError **error)
{
  JsonNode *node = lookup (profile, "syscalls");
  g_autoptr (JsonArray) syscalls = json_array_new ();

  if (node != NULL && !JSON_NODE_HOLDS_ARRAY (node))
    return throw_profile (error, b, "syscalls", "expected an array");
  for (guint i = 0; node != NULL && i < json_array_get_length (json_node_get_array (node)); i++)
    {
      g_autofree char *where = g_strdup_printf ("syscalls[%u]", i);

      if (!build_rule (b, json_array_get_element (json_node_get_array (node), i), where, syscalls,
                       error))
        return FALSE;
    }
  json_object_set_array_member (oci, "syscalls", g_steal_pointer (&syscalls));
  return TRUE;
}

/* compiling */

static gboolean
has_repeated_index (const struct scmp_arg_cmp *conditions, guint n)
{
  for (guint i = 0; i < n; i++)
    for (guint j = i + 1; j < n; j++)
      if (conditions[i].arg == conditions[j].arg)
        return TRUE;
  return FALSE;
}

/* @rule's conditions, as libseccomp takes them */
static guint
rule_conditions (JsonObject *rule, struct scmp_arg_cmp *out)
{
  JsonArray *args
      = json_object_has_member (rule, "args") ? json_object_get_array_member (rule, "args") : NULL;
  guint n = args != NULL ? MIN (json_array_get_length (args), ARG_INDEX_MAX + 1) : 0;

  for (guint i = 0; i < n; i++)
    {
      JsonObject *arg = json_array_get_object_element (args, i);

      out[i].arg = json_object_get_int_member (arg, "index");
      out[i].op = find_operator (json_object_get_string_member (arg, "op"));
      out[i].datum_a = json_object_get_int_member (arg, "value");
      out[i].datum_b = json_object_get_int_member (arg, "valueTwo");
    }
  return n;
}

static gboolean
compile_rule (Builder *b, scmp_filter_ctx ctx, uint32_t default_action, JsonObject *rule,
              guint index, GError **error)
{
  JsonArray *names = json_object_get_array_member (rule, "names");
  gint64 errno_ret = json_object_get_int_member_with_default (rule, "errnoRet", -1);
  uint32_t action = action_value (json_object_get_string_member (rule, "action"), errno_ret);
  struct scmp_arg_cmp conditions[ARG_INDEX_MAX + 1] = { { 0 } };
  guint n = rule_conditions (rule, conditions);
  /* like runc and crun: conditions on one argument are alternatives, one rule each */
  gboolean split = has_repeated_index (conditions, n);

  /* libseccomp refuses a rule that only repeats the default; the runtimes skip it */
  if (action == default_action)
    return TRUE;
  for (guint i = 0; i < json_array_get_length (names); i++)
    {
      const char *name = json_array_get_string_element (names, i);
      int nr = seccomp_syscall_resolve_name (name);
      int rc = 0;

      for (guint c = 0; split && c < n && rc == 0; c++)
        rc = seccomp_rule_add_array (ctx, action, nr, 1, &conditions[c]);
      if (!split)
        rc = seccomp_rule_add_array (ctx, action, nr, n, conditions);
      if (rc < 0)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "seccomp profile %s: syscalls[%u]: libseccomp refuses the rule for "
                            "'%s': %s",
                            b->origin, index, name, g_strerror (-rc));
    }
  return TRUE;
}

static gboolean
export_filter (Builder *b, scmp_filter_ctx ctx, GError **error)
{
  grove_autofd int fd = memfd_create ("grove-seccomp", MFD_CLOEXEC);
  struct stat st;
  int rc = 0;
  gint64 instructions = 0;

  if (fd < 0)
    return grove_throw_errno (error, "memfd_create");
  rc = seccomp_export_bpf (ctx, fd);
  if (rc < 0)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "seccomp profile %s: the filter does not compile: %s", b->origin,
                        g_strerror (-rc));
  if (fstat (fd, &st) < 0)
    return grove_throw_errno (error, "fstat");
  instructions = st.st_size / (gint64)sizeof (struct sock_filter);
  if (instructions > BPF_MAXINSNS)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "seccomp profile %s: the filter compiles to %" G_GINT64_FORMAT
                        " BPF instructions; the kernel loads at most %d",
                        b->origin, instructions, BPF_MAXINSNS);
  g_debug ("seccomp profile %s: %" G_GINT64_FORMAT " BPF instructions", b->origin, instructions);
  return TRUE;
}

/* builds the filter the runtime will build, so that what fails to load fails now */
static gboolean
compile_filter (Builder *b, JsonObject *oci, GError **error)
{
  gint64 errno_ret = json_object_get_int_member_with_default (oci, "defaultErrnoRet", -1);
  uint32_t default_action
      = action_value (json_object_get_string_member (oci, "defaultAction"), errno_ret);
  JsonArray *arches = json_object_has_member (oci, "architectures")
                          ? json_object_get_array_member (oci, "architectures")
                          : NULL;
  JsonArray *rules = json_object_get_array_member (oci, "syscalls");
  g_auto (scmp_filter_ctx) ctx = seccomp_init (default_action);

  if (ctx == NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "seccomp profile %s: libseccomp refuses the default action", b->origin);
  for (guint i = 0; arches != NULL && i < json_array_get_length (arches); i++)
    {
      int rc = seccomp_arch_add (ctx, arch_token (json_array_get_string_element (arches, i)));

      if (rc < 0 && rc != -EEXIST)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "seccomp profile %s: libseccomp cannot add architecture %s: %s",
                            b->origin, json_array_get_string_element (arches, i), g_strerror (-rc));
    }
  for (guint i = 0; i < json_array_get_length (rules); i++)
    if (!compile_rule (b, ctx, default_action, json_array_get_object_element (rules, i), i, error))
      return FALSE;
  return export_filter (b, ctx, error);
}

/* public */

/**
 * grove_seccomp_parse_profile:
 * @text: the profile's JSON
 * @length: its length, or -1 when nul-terminated
 * @origin: where it comes from, for messages
 * @error: return location
 *
 * Parses a seccomp profile document (not yet checked: see grove_seccomp_build()).
 *
 * Returns: (transfer full) (nullable): the profile's object, or %NULL with
 *   %GROVE_ERROR_INVALID_ARGUMENT set
 */
JsonObject *
grove_seccomp_parse_profile (const char *text, gssize length, const char *origin, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) local_error = NULL;
  JsonNode *root = NULL;

  g_return_val_if_fail (text != NULL && origin != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!json_parser_load_from_data (parser, text, length, &local_error))
    {
      grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "seccomp profile %s: %s", origin,
                   local_error->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                   "seccomp profile %s: expected a JSON object", origin);
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

static char *
read_profile_file (const char *path, gsize *out_length, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree char *text = NULL;
  struct stat st;

  if (path == NULL || !g_path_is_absolute (path))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "seccomp profile '%s': not an absolute path", path ? path : ""),
           NULL;
  if (stat (path, &st) < 0)
    {
      int errsv = errno;

      grove_throw (error, errsv == ENOENT ? GROVE_ERROR_NOT_FOUND : GROVE_ERROR_INVALID_ARGUMENT,
                   "seccomp profile %s: %s", path, g_strerror (errsv));
      return NULL;
    }
  if (!S_ISREG (st.st_mode) || st.st_size > PROFILE_SIZE_MAX)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "seccomp profile %s: not a regular file of at most %d bytes", path,
                        PROFILE_SIZE_MAX),
           NULL;
  if (!g_file_get_contents (path, &text, out_length, &local_error))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "seccomp profile %s: %s", path,
                        local_error->message),
           NULL;
  return g_steal_pointer (&text);
}

/**
 * grove_seccomp_load_profile:
 * @path: an absolute path to a JSON profile
 * @error: return location
 *
 * Reads and parses the profile at @path (a Localhost profile).
 *
 * Returns: (transfer full) (nullable): the profile's object, or %NULL with @error set:
 *   %GROVE_ERROR_NOT_FOUND when there is no such file, %GROVE_ERROR_INVALID_ARGUMENT for a
 *   relative path or a file that is not JSON
 */
JsonObject *
grove_seccomp_load_profile (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  gsize length = 0;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  text = read_profile_file (path, &length, error);
  if (text == NULL)
    return NULL;
  return grove_seccomp_parse_profile (text, length, path, error);
}

/**
 * grove_seccomp_read_default:
 * @path: (nullable): the default profile's file; %NULL for the copy built into Grove
 * @out_origin: (out) (transfer full): where it came from, for messages
 * @error: return location
 *
 * Reads the text of the RuntimeDefault profile.
 *
 * Returns: (transfer full) (nullable): the profile's JSON text, or %NULL with @error set
 */
char *
grove_seccomp_read_default (const char *path, char **out_origin, GError **error)
{
  g_autoptr (GBytes) bytes = NULL;
  gsize length = 0;

  g_return_val_if_fail (out_origin != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (path != NULL)
    {
      *out_origin = g_strdup (path);
      return read_profile_file (path, &length, error);
    }
  *out_origin = g_strdup ("(built-in default)");
  bytes = g_resource_lookup_data (grove_get_resource (), GROVE_SECCOMP_DEFAULT_RESOURCE,
                                  G_RESOURCE_LOOKUP_FLAGS_NONE, error);
  if (bytes == NULL)
    return NULL;
  return g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

static void
builder_init (Builder *b, const char *origin, const char *const *capabilities, struct utsname *uts)
{
  b->origin = origin;
  b->capabilities = capabilities;
  b->machine = "";
  if (uname (uts) < 0)
    return;
  b->machine = uts->machine;
  if (!parse_kernel_version (uts->release, &b->kernel_major, &b->kernel_minor))
    g_warning ("cannot read the kernel version from '%s'", uts->release);
}

/**
 * grove_seccomp_build:
 * @profile: a profile in Docker's format or the OCI runtime spec's
 * @origin: where it comes from, named in errors
 * @capabilities: (nullable) (array zero-terminated=1): the container's capabilities
 *   (`CAP_SYS_ADMIN`, ...), for Docker's `includes`/`excludes` conditions
 * @error: return location
 *
 * Checks @profile with libseccomp for this machine's architecture and the ones it lists:
 * members, actions, errno values, architectures, system call names and argument
 * operators; resolves Docker's archMap and conditions (capabilities, architecture,
 * `minKernel`); and compiles the filter to BPF, so that a profile the runtime could not
 * load is refused here.
 *
 * Returns: (transfer full) (nullable): the OCI `linux.seccomp` object, or %NULL with
 *   @error set: %GROVE_ERROR_INVALID_ARGUMENT naming the profile and what is wrong,
 *   %GROVE_ERROR_UNSUPPORTED for seccomp agents (SCMP_ACT_NOTIFY, listenerPath)
 */
JsonObject *
grove_seccomp_build (JsonObject *profile, const char *origin, const char *const *capabilities,
                     GError **error)
{
  static const char *const known[]
      = { "defaultAction", "defaultErrnoRet",  "architectures", "archMap", "flags",
          "listenerPath",  "listenerMetadata", "syscalls",      NULL };
  Builder b = { 0 };
  struct utsname uts;
  const char *default_action = NULL;
  gint64 default_errno = -1;
  g_autoptr (JsonObject) oci = json_object_new ();

  g_return_val_if_fail (profile != NULL && origin != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  builder_init (&b, origin, capabilities, &uts);
  if (!check_members (&b, profile, "", known, error)
      || !read_string (&b, profile, "", "defaultAction", &default_action, error)
      || !read_uint (&b, profile, "", "defaultErrnoRet", ERRNO_MAX, &default_errno, error)
      || !check_action (&b, "defaultAction", default_action, default_errno, error))
    return NULL;
  json_object_set_string_member (oci, "defaultAction", default_action);
  if (default_errno >= 0)
    json_object_set_int_member (oci, "defaultErrnoRet", default_errno);
  if (!build_arches (&b, profile, oci, error) || !build_flags (&b, profile, oci, error)
      || !build_rules (&b, profile, oci, error) || !compile_filter (&b, oci, error))
    return NULL;
  return g_steal_pointer (&oci);
}
