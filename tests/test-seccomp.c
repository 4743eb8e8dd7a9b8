/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTestSeccomp"

/* Seccomp profiles checked and compiled with libseccomp; containers using them are in
 * test-security.c. */

#include <string.h>
#include <unistd.h>

#include "grove-seccomp.h"
#include "grove-test-utils.h"
#include "grove-utils.h"

/* JSON with ' for ", so that the profiles below stay readable */
static JsonObject *
parse (const char *text)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *json = g_strdup (text);
  JsonObject *profile = NULL;

  g_strdelimit (json, "'", '"');
  profile = grove_seccomp_parse_profile (json, -1, "test", &error);
  g_assert_no_error (error);
  return profile;
}

static JsonObject *
build_ok (const char *text, const char *const *capabilities)
{
  g_autoptr (JsonObject) profile = parse (text);
  g_autoptr (GError) error = NULL;
  JsonObject *oci = grove_seccomp_build (profile, "test", capabilities, &error);

  g_assert_no_error (error);
  g_assert_nonnull (oci);
  return oci;
}

static void
assert_refused (const char *text, int code, const char *needle)
{
  g_autoptr (JsonObject) profile = parse (text);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) oci = grove_seccomp_build (profile, "test", NULL, &error);

  g_assert_null (oci);
  g_assert_error (error, GROVE_ERROR, code);
  g_assert_nonnull (strstr (error->message, "seccomp profile test: "));
  g_assert_nonnull (strstr (error->message, needle));
}

/* the rules of @oci that name @syscall */
static guint
count_rules (JsonObject *oci, const char *syscall, const char *action)
{
  JsonArray *rules = json_object_get_array_member (oci, "syscalls");
  guint count = 0;

  for (guint i = 0; i < json_array_get_length (rules); i++)
    {
      JsonObject *rule = json_array_get_object_element (rules, i);
      JsonArray *names = json_object_get_array_member (rule, "names");

      if (action != NULL && strcmp (json_object_get_string_member (rule, "action"), action) != 0)
        continue;
      for (guint j = 0; j < json_array_get_length (names); j++)
        count += strcmp (json_array_get_string_element (names, j), syscall) == 0;
    }
  return count;
}

/* the profile in the source tree, as an absolute path */
static char *
source_profile_path (void)
{
  g_autofree char *path
      = g_test_build_filename (G_TEST_DIST, "..", "data", "seccomp-default.json", NULL);

  return g_canonicalize_filename (path, NULL);
}

static JsonObject *
build_default (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *origin = NULL;
  g_autofree char *text = grove_seccomp_read_default (NULL, &origin, &error);
  g_autoptr (JsonObject) profile = NULL;
  JsonObject *oci = NULL;

  g_assert_no_error (error);
  profile = grove_seccomp_parse_profile (text, -1, origin, &error);
  g_assert_no_error (error);
  oci = grove_seccomp_build (profile, origin, NULL, &error);
  g_assert_no_error (error);
  return oci;
}

static void
test_default_profile (void)
{
  g_autoptr (JsonObject) oci = build_default ();
  JsonArray *arches = json_object_get_array_member (oci, "architectures");
  const char *const denied[] = { "mount",
                                 "umount2",
                                 "keyctl",
                                 "add_key",
                                 "bpf",
                                 "reboot",
                                 "init_module",
                                 "finit_module",
                                 "setns",
                                 "swapon",
                                 "clock_settime",
                                 "settimeofday",
                                 "kexec_load",
                                 "open_by_handle_at",
                                 "perf_event_open",
                                 "fsopen",
                                 "move_mount",
                                 "io_uring_setup",
                                 NULL };

  g_assert_cmpstr (json_object_get_string_member (oci, "defaultAction"), ==, "SCMP_ACT_ERRNO");
  g_assert_cmpint (json_object_get_int_member (oci, "defaultErrnoRet"), ==, 1);
  /* x86_64 with its compat architectures; the aarch64 entry of archMap does not apply */
#if defined(__x86_64__)
  g_assert_cmpuint (json_array_get_length (arches), ==, 3);
  g_assert_cmpstr (json_array_get_string_element (arches, 0), ==, "SCMP_ARCH_X86_64");
  g_assert_cmpstr (json_array_get_string_element (arches, 1), ==, "SCMP_ARCH_X86");
  g_assert_cmpstr (json_array_get_string_element (arches, 2), ==, "SCMP_ARCH_X32");
#else
  g_assert_cmpuint (json_array_get_length (arches), >=, 1);
#endif
  for (guint i = 0; denied[i] != NULL; i++)
    g_assert_cmpuint (count_rules (oci, denied[i], "SCMP_ACT_ALLOW"), ==, 0);
  g_assert_cmpuint (count_rules (oci, "read", "SCMP_ACT_ALLOW"), ==, 1);
  g_assert_cmpuint (count_rules (oci, "execve", "SCMP_ACT_ALLOW"), ==, 1);
  /* new namespaces only through the flag condition; clone3 falls back to clone */
  g_assert_cmpuint (count_rules (oci, "unshare", "SCMP_ACT_ALLOW"), ==, 1);
  g_assert_cmpuint (count_rules (oci, "clone3", "SCMP_ACT_ERRNO"), ==, 1);
  /* a kernel of at least 4.8 and no CAP_SYS_PTRACE: only the minKernel rule */
  g_assert_cmpuint (count_rules (oci, "ptrace", "SCMP_ACT_ALLOW"), ==, 1);
  g_assert_cmpuint (count_rules (oci, "syslog", NULL), ==, 0);
}

static void
test_default_file_matches_builtin (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = source_profile_path ();
  g_autofree char *origin = NULL;
  g_autofree char *builtin_origin = NULL;
  g_autofree char *file = grove_seccomp_read_default (path, &origin, &error);
  g_autofree char *builtin = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (origin, ==, path);
  builtin = grove_seccomp_read_default (NULL, &builtin_origin, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (file, ==, builtin);
}

static void
test_capability_conditions (void)
{
  const char *profile = "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':["
                        "{'names':['ptrace'],'action':'SCMP_ACT_ALLOW',"
                        " 'includes':{'caps':['CAP_SYS_PTRACE','CAP_SYS_ADMIN']}},"
                        "{'names':['syslog'],'action':'SCMP_ACT_ALLOW',"
                        " 'excludes':{'caps':['CAP_SYS_ADMIN']}},"
                        "{'names':['acct'],'action':'SCMP_ACT_ALLOW',"
                        " 'includes':{'minKernel':'999.0'}},"
                        "{'names':['getpid'],'action':'SCMP_ACT_ALLOW',"
                        " 'includes':{'arches':['amd64','arm64','x86_64','aarch64']}},"
                        "{'names':['gettid'],'action':'SCMP_ACT_ALLOW',"
                        " 'includes':{'arches':['s390']}}]}";
  const char *const ptrace_only[] = { "CAP_SYS_PTRACE", NULL };
  const char *const both[] = { "CAP_SYS_PTRACE", "CAP_SYS_ADMIN", NULL };
  g_autoptr (JsonObject) none = build_ok (profile, NULL);
  g_autoptr (JsonObject) some = build_ok (profile, ptrace_only);
  g_autoptr (JsonObject) all = build_ok (profile, both);

  /* includes.caps needs every capability listed; excludes.caps drops on any */
  g_assert_cmpuint (count_rules (none, "ptrace", NULL), ==, 0);
  g_assert_cmpuint (count_rules (some, "ptrace", NULL), ==, 0);
  g_assert_cmpuint (count_rules (all, "ptrace", NULL), ==, 1);
  g_assert_cmpuint (count_rules (none, "syslog", NULL), ==, 1);
  g_assert_cmpuint (count_rules (all, "syslog", NULL), ==, 0);
  g_assert_cmpuint (count_rules (none, "acct", NULL), ==, 0);
  g_assert_cmpuint (count_rules (none, "getpid", NULL), ==, 1);
  g_assert_cmpuint (count_rules (none, "gettid", NULL), ==, 0);
}

static void
test_errno_and_arguments (void)
{
  g_autoptr (JsonObject) oci = build_ok (
      "{'defaultAction':'SCMP_ACT_ALLOW','architectures':['SCMP_ARCH_X86_64','SCMP_ARCH_X86'],"
      "'flags':['SECCOMP_FILTER_FLAG_LOG'],'syscalls':["
      "{'names':['mkdir','mkdirat'],'action':'SCMP_ACT_ERRNO','errnoRet':28},"
      "{'names':['personality'],'action':'SCMP_ACT_ERRNO','args':["
      " {'index':0,'value':8,'op':'SCMP_CMP_EQ'},{'index':0,'value':9,'op':'SCMP_CMP_EQ'}]},"
      "{'name':'_llseek','action':'SCMP_ACT_KILL_PROCESS'},"
      "{'names':['getpid'],'action':'SCMP_ACT_ALLOW'}]}",
      NULL);
  JsonArray *rules = json_object_get_array_member (oci, "syscalls");
  JsonObject *mkdir_rule = json_array_get_object_element (rules, 0);
  JsonObject *personality = json_array_get_object_element (rules, 1);
  JsonObject *arg
      = json_array_get_object_element (json_object_get_array_member (personality, "args"), 1);

  g_assert_cmpuint (json_array_get_length (rules), ==, 4);
  g_assert_cmpint (json_object_get_int_member (mkdir_rule, "errnoRet"), ==, 28);
  g_assert_false (json_object_has_member (personality, "errnoRet"));
  g_assert_cmpint (json_object_get_int_member (arg, "index"), ==, 0);
  g_assert_cmpint (json_object_get_int_member (arg, "value"), ==, 9);
  g_assert_cmpint (json_object_get_int_member (arg, "valueTwo"), ==, 0);
  g_assert_cmpstr (json_object_get_string_member (arg, "op"), ==, "SCMP_CMP_EQ");
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (oci, "flags"), 0),
                   ==, "SECCOMP_FILTER_FLAG_LOG");
  /* an i386-only name is a real system call: kept for the compat architecture */
  g_assert_cmpuint (count_rules (oci, "_llseek", "SCMP_ACT_KILL_PROCESS"), ==, 1);
}

static void
test_refused (void)
{
  static const struct
  {
    const char *profile;
    int code;
    const char *needle;
  } cases[] = {
    { "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[{'names':['read','mkdri'],"
      "'action':'SCMP_ACT_ALLOW'}]}",
      GROVE_ERROR_INVALID_ARGUMENT, "syscalls[0]: unknown system call 'mkdri'" },
    { "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[{'names':['read'],'action':'SCMP_ACT_ALOW'}]}",
      GROVE_ERROR_INVALID_ARGUMENT, "syscalls[0]: unknown action 'SCMP_ACT_ALOW'" },
    { "{'defaultAction':'SCMP_ACT_DENY'}", GROVE_ERROR_INVALID_ARGUMENT,
      "defaultAction: unknown action 'SCMP_ACT_DENY'" },
    { "{'syscalls':[]}", GROVE_ERROR_INVALID_ARGUMENT, "defaultAction: no action" },
    { "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[{'names':['read'],'action':'SCMP_ACT_ALLOW',"
      "'args':[{'index':0,'value':1,'op':'SCMP_CMP_EQUAL'}]}]}",
      GROVE_ERROR_INVALID_ARGUMENT, "syscalls[0].args[0]: unknown operator 'SCMP_CMP_EQUAL'" },
    { "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[{'names':['read'],'action':'SCMP_ACT_ALLOW',"
      "'args':[{'index':6,'value':1,'op':'SCMP_CMP_EQ'}]}]}",
      GROVE_ERROR_INVALID_ARGUMENT, "syscalls[0].args[0]: index: expected an integer from 0 to 5" },
    { "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[{'names':['read'],'action':'SCMP_ACT_ALLOW',"
      "'errnoRet':1}]}",
      GROVE_ERROR_INVALID_ARGUMENT, "errnoRet given with SCMP_ACT_ALLOW" },
    { "{'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':5000}", GROVE_ERROR_INVALID_ARGUMENT,
      "defaultErrnoRet: expected an integer from 0 to 4095" },
    { "{'defaultAction':'SCMP_ACT_ERRNO','architectures':['SCMP_ARCH_Z80']}",
      GROVE_ERROR_INVALID_ARGUMENT, "architectures[0]: unknown architecture 'SCMP_ARCH_Z80'" },
    { "{'defaultAction':'SCMP_ACT_ERRNO','syscals':[]}", GROVE_ERROR_INVALID_ARGUMENT,
      "unknown member 'syscals'" },
    { "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[{'names':['read'],'action':'SCMP_ACT_ALLOW',"
      "'include':{'caps':['CAP_SYS_ADMIN']}}]}",
      GROVE_ERROR_INVALID_ARGUMENT, "syscalls[0]: unknown member 'include'" },
    { "{'defaultAction':'SCMP_ACT_ERRNO','flags':['SECCOMP_FILTER_FLAG_TSYNCH']}",
      GROVE_ERROR_INVALID_ARGUMENT, "flags: unknown flag 'SECCOMP_FILTER_FLAG_TSYNCH'" },
    { "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[{'names':[],'action':'SCMP_ACT_ALLOW'}]}",
      GROVE_ERROR_INVALID_ARGUMENT, "syscalls[0]: no system call names" },
    { "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[{'names':['read'],'action':'SCMP_ACT_ALLOW',"
      "'includes':{'minKernel':'four'}}]}",
      GROVE_ERROR_INVALID_ARGUMENT, "minKernel: 'four' is not a version" },
    { "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[{'names':['read'],'action':'SCMP_ACT_NOTIFY'}]"
      "}",
      GROVE_ERROR_UNSUPPORTED, "SCMP_ACT_NOTIFY is not supported" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("case %u: %s", i, cases[i].profile);
      assert_refused (cases[i].profile, cases[i].code, cases[i].needle);
    }
}

/* valid rules whose filter is longer than the kernel loads */
static void
test_too_big (void)
{
  g_autoptr (GString) text = g_string_new ("{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[");

  for (guint i = 0; i < 5000; i++)
    g_string_append_printf (text,
                            "%s{'names':['ioctl'],'action':'SCMP_ACT_ALLOW','args':[{'index':1,"
                            "'value':%u,'op':'SCMP_CMP_EQ'}]}",
                            i > 0 ? "," : "", 0x5400 + i);
  g_string_append (text, "]}");
  assert_refused (text->str, GROVE_ERROR_INVALID_ARGUMENT, "BPF instructions; the kernel");
}

static void
test_load_profile (void)
{
  g_autofree char *dir = grove_test_make_tmpdir ();
  g_autofree char *bad = g_build_filename (dir, "bad.json", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing.json", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) profile = NULL;
  g_autofree char *good = source_profile_path ();

  g_assert_true (g_file_set_contents (bad, "{\"defaultAction\": ", -1, NULL));
  profile = grove_seccomp_load_profile ("profiles/mine.json", &error);
  g_assert_null (profile);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "not an absolute path"));
  g_clear_error (&error);
  profile = grove_seccomp_load_profile (missing, &error);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);
  profile = grove_seccomp_load_profile (bad, &error);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, bad));
  g_clear_error (&error);
  profile = grove_seccomp_load_profile (dir, &error);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  profile = grove_seccomp_load_profile (good, &error);
  g_assert_no_error (error);
  g_assert_true (json_object_has_member (profile, "syscalls"));
  grove_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/grove/seccomp/default-profile", test_default_profile);
  g_test_add_func ("/grove/seccomp/default-file-matches-builtin",
                   test_default_file_matches_builtin);
  g_test_add_func ("/grove/seccomp/capability-conditions", test_capability_conditions);
  g_test_add_func ("/grove/seccomp/errno-and-arguments", test_errno_and_arguments);
  g_test_add_func ("/grove/seccomp/refused", test_refused);
  g_test_add_func ("/grove/seccomp/too-big", test_too_big);
  g_test_add_func ("/grove/seccomp/load-profile", test_load_profile);
  return g_test_run ();
}
