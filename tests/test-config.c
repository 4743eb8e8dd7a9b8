/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTestConfig"

/* groved's config: defaults, drop-ins in name order, overrides and every error message */

#include <string.h>

#include "grove-config.h"
#include "grove-error.h"
#include "grove-test-utils.h"

typedef struct
{
  char *tmpdir;
  char *main_path;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  fx->tmpdir = grove_test_make_tmpdir ();
  fx->main_path = g_build_filename (fx->tmpdir, "grove.conf", NULL);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  grove_test_rm_rf (fx->tmpdir);
  g_clear_pointer (&fx->tmpdir, g_free);
  g_clear_pointer (&fx->main_path, g_free);
}

/* writes @text to @name below the fixture's dir (a "grove.conf.d/" prefix is created) */
static void
write_conf (Fixture *fx, const char *name, const char *text)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (fx->tmpdir, name, NULL);
  g_autofree char *parent = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

/* writes like write_conf() and returns the path, for the messages that name it */
static char *
write_conf_path (Fixture *fx, const char *name, const char *text)
{
  write_conf (fx, name, text);
  return g_build_filename (fx->tmpdir, name, NULL);
}

static GroveConfig *
load_ok (Fixture *fx)
{
  g_autoptr (GError) error = NULL;
  GroveConfig *config = grove_config_load (fx->main_path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (config);
  return config;
}

/* loads, expects an INVALID_ARGUMENT error, and checks the message has each of the strings */
static void
load_fails (Fixture *fx, const char *first, ...)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveConfig) config = grove_config_load (fx->main_path, &error);
  va_list args;

  g_assert_null (config);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_test_message ("error: %s", error->message);
  va_start (args, first);
  for (const char *s = first; s != NULL; s = va_arg (args, const char *))
    {
      if (strstr (error->message, s) == NULL)
        g_test_message ("'%s' not in the message", s);
      g_assert_nonnull (strstr (error->message, s));
    }
  va_end (args);
}

static void
assert_argv (const GroveHandlerConfig *handler, const char *const *expected)
{
  g_assert_nonnull (handler);
  g_assert_cmpstrv (handler->argv, expected);
}

static void
test_defaults (Fixture *fx, gconstpointer data)
{
  g_autoptr (GroveConfig) config = NULL;
  const GroveHandlerConfig *crun = NULL;

  write_conf (fx, "grove.conf", "# nothing set\n");
  config = load_ok (fx);
  g_assert_cmpstr (config->root, ==, "/var/lib/grove");
  g_assert_cmpstr (config->runroot, ==, "/run/grove");
  g_assert_null (config->conmon);
  g_assert_true (g_path_is_absolute (config->pause));
  g_assert_true (g_str_has_suffix (config->pause, "/grove-pause"));
  g_assert_cmpstr (config->cgroup_parent, ==, "/grove");
  g_assert_cmpstr (config->default_handler, ==, "runc");
  g_assert_cmpstr (config->trusted_handler, ==, "runc");
  g_assert_null (config->seccomp_profile);
  g_assert_cmpuint (config->handlers->len, ==, 2);
  assert_argv (grove_config_get_handler (config, "runc"), (const char *const[]){ "runc", NULL });
  g_assert_true (grove_config_get_handler (config, "runc")->builtin);
  crun = grove_config_get_handler (config, "crun");
  g_assert_nonnull (crun);
  g_assert_true (crun->builtin);
  g_assert_true (g_str_has_suffix (crun->argv[0], "/grove-runtime-exec"));
  g_assert_cmpstr (crun->argv[1], ==, "crun");
  g_assert_null (crun->argv[2]);
  g_assert_null (grove_config_get_handler (config, "kata"));
  g_assert_cmpint (config->polkit, ==, GROVE_CONFIG_POLKIT_AUTO);
  g_assert_null (config->cri_listen);
  g_assert_cmpstr (config->cni_conf_dir, ==, "/etc/cni/net.d");
  g_assert_cmpstrv (config->cni_plugin_dirs,
                    ((const char *const[]){ "/usr/lib/cni", "/opt/cni/bin", NULL }));
}

/* [cri] listen: a path (canonicalised), empty for no socket, never relative; later wins */
static void
test_cri_listen (Fixture *fx, gconstpointer data)
{
  g_autoptr (GroveConfig) config = NULL;
  g_autofree char *where = NULL;

  write_conf (fx, "grove.conf", "[cri]\nlisten = /run/k8s//grove.sock\n");
  config = load_ok (fx);
  g_assert_cmpstr (config->cri_listen, ==, "/run/k8s/grove.sock");
  g_clear_pointer (&config, grove_config_free);

  write_conf (fx, "grove.conf.d/50-no-cri.conf", "[cri]\nlisten =\n");
  config = load_ok (fx);
  g_assert_cmpstr (config->cri_listen, ==, "");
  g_clear_pointer (&config, grove_config_free);

  write_conf (fx, "grove.conf.d/60-relative.conf", "[cri]\nlisten = cri.sock\n");
  where = g_strdup_printf ("%s/grove.conf.d/60-relative.conf:2: [cri] listen", fx->tmpdir);
  load_fails (fx, where, "'cri.sock' is not an absolute path", NULL);

  g_clear_pointer (&where, g_free);
  write_conf (fx, "grove.conf.d/60-relative.conf", "[cri]\nsocket = /x.sock\n");
  where = g_strdup_printf ("%s/grove.conf.d/60-relative.conf:2: [cri] socket: unknown key",
                           fx->tmpdir);
  load_fails (fx, where, NULL);

  /* the streaming server: an IP address and a port */
  g_clear_pointer (&where, g_free);
  write_conf (fx, "grove.conf.d/60-relative.conf",
              "[cri]\nstream_address = ::1\nstream_port = 10010\n");
  config = load_ok (fx);
  g_assert_cmpstr (config->stream_address, ==, "::1");
  g_assert_cmpuint (config->stream_port, ==, 10010);
  g_clear_pointer (&config, grove_config_free);
  write_conf (fx, "grove.conf.d/60-relative.conf", "[cri]\nstream_port = 70000\n");
  where = g_strdup_printf ("%s/grove.conf.d/60-relative.conf:2: [cri] stream_port", fx->tmpdir);
  load_fails (fx, where, "'70000' is not a port", NULL);
  g_clear_pointer (&where, g_free);
  write_conf (fx, "grove.conf.d/60-relative.conf", "[cri]\nstream_address = localhost\n");
  where = g_strdup_printf ("%s/grove.conf.d/60-relative.conf:2: [cri] stream_address", fx->tmpdir);
  load_fails (fx, where, "'localhost' is not an IP address", NULL);
}

static void
test_all_keys (Fixture *fx, gconstpointer data)
{
  g_autoptr (GroveConfig) config = NULL;

  write_conf (fx, "grove.conf",
              "[daemon]\n"
              "polkit = no\n"
              "[storage]\n"
              "root = /srv/grove/\n"
              "runroot=/run/g\n"
              "\n"
              "[runtime]\n"
              "conmon = /usr/local/bin/conmon\n"
              "pause = /opt/grove/grove-pause\n"
              "cgroup_parent = /machine/grove\n"
              "default_handler = crun\n"
              "trusted_handler = kata\n"
              "seccomp_profile = /etc/grove/seccomp.json\n"
              "[handler.kata]\n"
              "path = /opt/kata/bin/containerd-shim-runc\n"
              "args = --debug;--log=/var/log/kata.log;\n"
              "[network]\n"
              "conf_dir = /etc/grove/net.d/\n"
              "plugin_dirs = /opt/cni//bin::/usr/libexec/cni\n");
  config = load_ok (fx);
  g_assert_cmpstr (config->cni_conf_dir, ==, "/etc/grove/net.d");
  g_assert_cmpstrv (config->cni_plugin_dirs,
                    ((const char *const[]){ "/opt/cni/bin", "/usr/libexec/cni", NULL }));
  g_assert_cmpstr (config->root, ==, "/srv/grove");
  g_assert_cmpstr (config->runroot, ==, "/run/g");
  g_assert_cmpstr (config->conmon, ==, "/usr/local/bin/conmon");
  g_assert_cmpstr (config->pause, ==, "/opt/grove/grove-pause");
  g_assert_cmpstr (config->cgroup_parent, ==, "/machine/grove");
  g_assert_cmpstr (config->default_handler, ==, "crun");
  g_assert_cmpstr (config->trusted_handler, ==, "kata");
  g_assert_cmpstr (config->seccomp_profile, ==, "/etc/grove/seccomp.json");
  g_assert_cmpuint (config->handlers->len, ==, 3);
  /* sorted by name */
  g_assert_cmpstr (((GroveHandlerConfig *)config->handlers->pdata[0])->name, ==, "crun");
  g_assert_cmpstr (((GroveHandlerConfig *)config->handlers->pdata[1])->name, ==, "kata");
  g_assert_cmpstr (((GroveHandlerConfig *)config->handlers->pdata[2])->name, ==, "runc");
  assert_argv (grove_config_get_handler (config, "kata"),
               (const char *const[]){ "/opt/kata/bin/containerd-shim-runc", "--debug",
                                      "--log=/var/log/kata.log", NULL });
  g_assert_false (grove_config_get_handler (config, "kata")->builtin);
  g_assert_cmpint (config->polkit, ==, GROVE_CONFIG_POLKIT_NO);
}

static void
test_polkit (Fixture *fx, gconstpointer data)
{
  const char *const values[] = { "auto", "yes", "no" };
  const GroveConfigPolkit modes[]
      = { GROVE_CONFIG_POLKIT_AUTO, GROVE_CONFIG_POLKIT_YES, GROVE_CONFIG_POLKIT_NO };
  g_autofree char *path = NULL;
  g_autofree char *where = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      g_autofree char *text = g_strdup_printf ("[daemon]\npolkit = %s\n", values[i]);
      g_autoptr (GroveConfig) config = NULL;

      write_conf (fx, "grove.conf", text);
      config = load_ok (fx);
      g_assert_cmpint (config->polkit, ==, modes[i]);
    }

  /* a bad value names the file and line that set it, even in a drop-in */
  write_conf (fx, "grove.conf", "[daemon]\npolkit = yes\n");
  path = write_conf_path (fx, "grove.conf.d/20-p.conf", "# off\n[daemon]\npolkit = off\n");
  where = g_strdup_printf ("%s:3: [daemon] polkit: 'off' is not auto, yes or no", path);
  load_fails (fx, where, NULL);

  g_clear_pointer (&where, g_free);
  write_conf (fx, "grove.conf.d/20-p.conf", "[daemon]\npolkit_mode = yes\n");
  where = g_strdup_printf ("%s:2: [daemon] polkit_mode: unknown key", path);
  load_fails (fx, where, NULL);
}

static void
test_dropin_order (Fixture *fx, gconstpointer data)
{
  g_autoptr (GroveConfig) config = NULL;

  write_conf (fx, "grove.conf",
              "[storage]\nroot=/main\nrunroot=/main-run\n[runtime]\ncgroup_parent=/main\n");
  /* written out of order: name order decides, not creation order */
  write_conf (fx, "grove.conf.d/20-second.conf", "[storage]\nroot=/second\n");
  write_conf (fx, "grove.conf.d/10-first.conf", "[storage]\nroot=/first\nrunroot=/first-run\n");
  write_conf (fx, "grove.conf.d/30-ignored.conf.bak", "[storage]\nroot=/bak\n");
  write_conf (fx, "grove.conf.d/.40-hidden.conf", "[storage]\nroot=/hidden\n");
  write_conf (fx, "grove.conf.d/README", "not a config file at all\n");
  config = load_ok (fx);
  g_assert_cmpstr (config->root, ==, "/second");
  g_assert_cmpstr (config->runroot, ==, "/first-run");
  g_assert_cmpstr (config->cgroup_parent, ==, "/main");
}

static void
test_handler_override (Fixture *fx, gconstpointer data)
{
  g_autoptr (GroveConfig) config = NULL;

  write_conf (fx, "grove.conf",
              "[handler.runc]\npath=/usr/sbin/runc\nargs=--systemd-cgroup\n"
              "[handler.youki]\npath=youki\n");
  /* a drop-in may change one key of a handler another file defined, and refer to it */
  write_conf (fx, "grove.conf.d/50-runc.conf",
              "[handler.runc]\nargs=--debug\n[runtime]\ndefault_handler=youki\n");
  config = load_ok (fx);
  assert_argv (grove_config_get_handler (config, "runc"),
               (const char *const[]){ "/usr/sbin/runc", "--debug", NULL });
  g_assert_false (grove_config_get_handler (config, "runc")->builtin);
  assert_argv (grove_config_get_handler (config, "youki"), (const char *const[]){ "youki", NULL });
  g_assert_nonnull (grove_config_get_handler (config, "crun"));
  g_assert_cmpstr (config->default_handler, ==, "youki");
  g_assert_cmpstr (config->trusted_handler, ==, "runc");
}

static void
test_missing (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveConfig) config = NULL;

  /* a file named explicitly must exist, even with drop-ins beside it */
  write_conf (fx, "grove.conf.d/10-a.conf", "[storage]\nroot=/a\n");
  config = grove_config_load (fx->main_path, &error);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, fx->main_path));
  g_assert_null (config);
  g_clear_error (&error);

  /* the default one need not */
  if (g_file_test (GROVE_CONFIG_DEFAULT_PATH, G_FILE_TEST_EXISTS)
      || g_file_test ("/etc/grove/grove.conf.d", G_FILE_TEST_EXISTS))
    {
      g_test_message ("%s exists: not loading the default config", GROVE_CONFIG_DEFAULT_PATH);
      return;
    }
  config = grove_config_load (NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (config->root, ==, "/var/lib/grove");
}

static void
test_syntax_error (Fixture *fx, gconstpointer data)
{
  g_autofree char *where = NULL;
  g_autofree char *path = NULL;

  write_conf (fx, "grove.conf", "[storage]\nroot=/ok\n");
  path = write_conf_path (fx, "grove.conf.d/10-broken.conf",
                          "# a comment\n[runtime]\n\ncgroup_parent=/x\nthis line is no key\n");
  where = g_strdup_printf ("%s:5: syntax error", path);
  load_fails (fx, where, "this line is no key", NULL);

  g_clear_pointer (&where, g_free);
  write_conf (fx, "grove.conf.d/10-broken.conf", "[runtime\n");
  where = g_strdup_printf ("%s:1: syntax error", path);
  load_fails (fx, where, NULL);

  g_clear_pointer (&where, g_free);
  write_conf (fx, "grove.conf.d/10-broken.conf", "\n\nroot=/before/any/group\n");
  where = g_strdup_printf ("%s:3: syntax error", path);
  load_fails (fx, where, NULL);
}

static void
test_unknown_key (Fixture *fx, gconstpointer data)
{
  g_autofree char *where = NULL;
  g_autofree char *path = NULL;

  write_conf (fx, "grove.conf", "[storage]\nroot=/ok\n");
  path = write_conf_path (
      fx, "grove.conf.d/20-typo.conf",
      "[runtime]\ndefault_handler=runc\n# the typo:\n  defualt_handler = crun\n");
  where = g_strdup_printf ("%s:4: [runtime] defualt_handler: unknown key", path);
  load_fails (fx, where, NULL);

  /* a key of another group */
  g_clear_pointer (&where, g_free);
  write_conf (fx, "grove.conf.d/20-typo.conf", "[storage]\nconmon=/usr/bin/conmon\n");
  where = g_strdup_printf ("%s:2: [storage] conmon: unknown key", path);
  load_fails (fx, where, NULL);

  /* GKeyFile hides localised keys; groved has none */
  g_clear_pointer (&where, g_free);
  write_conf (fx, "grove.conf.d/20-typo.conf", "[storage]\nroot=/a\nroot[de]=/b\n");
  where = g_strdup_printf ("%s:3: [storage] root[de]: unknown key", path);
  load_fails (fx, where, NULL);
}

static void
test_unknown_group (Fixture *fx, gconstpointer data)
{
  g_autofree char *where = NULL;

  write_conf (fx, "grove.conf", "[storage]\nroot=/ok\n\n[networking]\nplugin=cni\n");
  where = g_strdup_printf ("%s:4: [networking]: unknown group", fx->main_path);
  load_fails (fx, where, NULL);

  g_clear_pointer (&where, g_free);
  write_conf (fx, "grove.conf", "[handler.]\npath=/bin/true\n");
  where = g_strdup_printf ("%s:1: [handler.]: unknown group", fx->main_path);
  load_fails (fx, where, NULL);

  g_clear_pointer (&where, g_free);
  write_conf (fx, "grove.conf", "[handler.a/b]\npath=/bin/true\n");
  where = g_strdup_printf ("%s:1: [handler.a/b]: unknown group", fx->main_path);
  load_fails (fx, where, NULL);
}

static void
test_relative_path (Fixture *fx, gconstpointer data)
{
  const char *const cases[][3] = {
    { "[storage]\nroot=var/lib/grove\n", "2: [storage] root", "'var/lib/grove'" },
    { "[storage]\n\nrunroot = run\n", "3: [storage] runroot", "'run'" },
    { "[runtime]\nconmon=conmon\n", "2: [runtime] conmon", "'conmon'" },
    { "[runtime]\npause=./grove-pause\n", "2: [runtime] pause", "'./grove-pause'" },
    { "[runtime]\nseccomp_profile=seccomp.json\n", "2: [runtime] seccomp_profile",
      "'seccomp.json' is not an absolute path" },
    { "[runtime]\ncgroup_parent=grove\n", "2: [runtime] cgroup_parent", "'grove'" },
    { "[handler.x]\npath=bin/runc\n", "2: [handler.x] path", "'bin/runc'" },
    { "[network]\nconf_dir=net.d\n", "2: [network] conf_dir", "'net.d'" },
    { "[network]\nplugin_dirs=/usr/lib/cni:cni\n", "2: [network] plugin_dirs", "'cni'" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *where = g_strdup_printf ("%s:%s", fx->main_path, cases[i][1]);
      write_conf (fx, "grove.conf", cases[i][0]);
      load_fails (fx, where, cases[i][2], "is not an absolute path", NULL);
    }
}

static void
test_unknown_handler (Fixture *fx, gconstpointer data)
{
  g_autofree char *where = NULL;
  g_autofree char *path = NULL;

  write_conf (fx, "grove.conf", "[runtime]\ndefault_handler=kata\n");
  where = g_strdup_printf ("%s:2: [runtime] default_handler: no handler 'kata'", fx->main_path);
  load_fails (fx, where, "(handlers: crun, runc)", NULL);

  /* the file that set the value last is the one named */
  g_clear_pointer (&where, g_free);
  write_conf (fx, "grove.conf", "[runtime]\ntrusted_handler=runc\n");
  path = write_conf_path (fx, "grove.conf.d/10-t.conf", "\n[runtime]\ntrusted_handler=gvisor\n");
  where = g_strdup_printf ("%s:3: [runtime] trusted_handler: no handler 'gvisor'", path);
  load_fails (fx, where, NULL);
}

static void
test_bad_handler (Fixture *fx, gconstpointer data)
{
  g_autofree char *where = NULL;

  write_conf (fx, "grove.conf", "[handler.kata]\nargs=--debug\n");
  where = g_strdup_printf ("%s:1: [handler.kata]: the handler has no path", fx->main_path);
  load_fails (fx, where, NULL);

  g_clear_pointer (&where, g_free);
  write_conf (fx, "grove.conf", "[handler.kata]\n");
  where = g_strdup_printf ("%s:1: [handler.kata]: the handler has no path", fx->main_path);
  load_fails (fx, where, NULL);

  g_clear_pointer (&where, g_free);
  write_conf (fx, "grove.conf", "[handler.kata]\npath=/bin/kata\nargs=a\\qb\n");
  where = g_strdup_printf ("%s:3: [handler.kata] args: bad value", fx->main_path);
  load_fails (fx, where, NULL);

  g_clear_pointer (&where, g_free);
  write_conf (fx, "grove.conf", "[storage]\nroot=/a\\x\n");
  where = g_strdup_printf ("%s:2: [storage] root: bad value", fx->main_path);
  load_fails (fx, where, NULL);
}

static void
test_registries (Fixture *fx, gconstpointer data)
{
  g_autoptr (GroveConfig) config = NULL;
  const GroveRegistryHostConfig *host = NULL;
  g_autofree char *path = NULL;

  write_conf (fx, "grove.conf", "# nothing set\n");
  config = load_ok (fx);
  g_assert_null (config->registries->default_registry);
  g_assert_null (config->registries->auth_file);
  g_assert_cmpuint (config->registries->stall_timeout, ==, GROVE_REGISTRY_DEFAULT_STALL_TIMEOUT);
  g_assert_cmpuint (config->registries->max_concurrent_downloads, ==, 3);
  g_assert_cmpuint (config->registries->hosts->len, ==, 0);
  g_clear_pointer (&config, grove_config_free);

  write_conf (fx, "grove.conf",
              "[registries]\ndefault_registry = registry.example:5000\n"
              "auth_file = /etc/grove//auth.json\nstall_timeout = 7\n"
              "max_concurrent_downloads = 5\n"
              "[registry.registry.example:5000]\ninsecure = true\nca_file = /etc/ca.pem\n"
              "mirrors = mirror-a:5001; mirror-b\n"
              "[registry.docker.io]\nmirrors = localhost:5000\n");
  config = load_ok (fx);
  g_assert_cmpstr (config->registries->default_registry, ==, "registry.example:5000");
  g_assert_cmpstr (config->registries->auth_file, ==, "/etc/grove/auth.json");
  g_assert_cmpuint (config->registries->stall_timeout, ==, 7);
  g_assert_cmpuint (config->registries->max_concurrent_downloads, ==, 5);
  host = grove_registry_config_get_host (config->registries, "registry.example:5000");
  g_assert_nonnull (host);
  g_assert_true (host->insecure);
  g_assert_cmpstr (host->ca_file, ==, "/etc/ca.pem");
  g_assert_cmpstrv (host->mirrors, ((const char *const[]){ "mirror-a:5001", "mirror-b", NULL }));
  host = grove_registry_config_get_host (config->registries, "docker.io");
  g_assert_nonnull (host);
  g_assert_false (host->insecure);
  g_assert_null (host->ca_file);

  path = write_conf_path (fx, "grove.conf.d/10-bad.conf", "[registry.docker.io]\nsecure = no\n");
  load_fails (fx, path, "[registry.docker.io] secure: unknown key", NULL);
  write_conf (fx, "grove.conf.d/10-bad.conf", "[registry.bad host]\ninsecure = true\n");
  load_fails (fx, "[registry.bad host]: unknown group", NULL);
  write_conf (fx, "grove.conf.d/10-bad.conf", "[registries]\nstall_timeout = 0\n");
  load_fails (fx, "[registries] stall_timeout: '0' is not 1 to 3600", NULL);
  write_conf (fx, "grove.conf.d/10-bad.conf", "[registry.a]\ninsecure = yes\n");
  load_fails (fx, "[registry.a] insecure: 'yes' is neither true nor false", NULL);
  write_conf (fx, "grove.conf.d/10-bad.conf", "[registry.a]\nmirrors = ok:1;bad/path\n");
  load_fails (fx, "[registry.a] mirrors: 'bad/path' is not HOST or HOST:PORT", NULL);
  write_conf (fx, "grove.conf.d/10-bad.conf", "[registries]\nauth_file = auth.json\n");
  load_fails (fx, "[registries] auth_file: 'auth.json' is not an absolute path", NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/grove/config/defaults", test_defaults);
  ADD ("/grove/config/all-keys", test_all_keys);
  ADD ("/grove/config/dropin-order", test_dropin_order);
  ADD ("/grove/config/handler-override", test_handler_override);
  ADD ("/grove/config/missing", test_missing);
  ADD ("/grove/config/syntax-error", test_syntax_error);
  ADD ("/grove/config/unknown-key", test_unknown_key);
  ADD ("/grove/config/unknown-group", test_unknown_group);
  ADD ("/grove/config/relative-path", test_relative_path);
  ADD ("/grove/config/unknown-handler", test_unknown_handler);
  ADD ("/grove/config/bad-handler", test_bad_handler);
  ADD ("/grove/config/polkit", test_polkit);
  ADD ("/grove/config/cri-listen", test_cri_listen);
  ADD ("/grove/config/registries", test_registries);
#undef ADD
  return g_test_run ();
}
