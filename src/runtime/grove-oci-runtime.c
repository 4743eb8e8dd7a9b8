/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveOciRuntime"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grove-oci-runtime-private.h"
#include "grove-utils.h"

#define SYNC_PIPE_CHILD_FD GROVE_CONMON_SYNC_PIPE_FD
#define START_PIPE_CHILD_FD GROVE_CONMON_START_PIPE_FD
/* conmon 2.1.6 reopens its log files on control message type 2 ("type height width") */
#define REOPEN_LOGS_MESSAGE "2 0 0\n"
/* what conmon says on the sync pipe when -T ran out */
#define CONMON_TIMED_OUT_MESSAGE "command timed out"
#define CONFIG_MAX_SIZE ((gsize)4 * 1024 * 1024)
#define EXEC_LOG_MAX_SIZE ((gsize)64 * 1024 * 1024)
#define EXIT_FILE_MAX_SIZE ((gsize)64)
#define PID_FILE_MAX_SIZE ((gsize)64)
/* the wrapper script conmon runs when the runtime is an argv; dot: runtimes skip it in `list` */
#define WRAPPER_PREFIX ".grove-runtime-"

struct _GroveOciRuntime
{
  GObject parent_instance;

  char *name;
  char *path;           /* the runtime binary, resolved */
  char **argv;          /* the binary and its prefix arguments */
  char *state_root;     /* every runtime call gets --root <state_root> */
  char *conmon_path;    /* resolved */
  char *conmon_runtime; /* conmon's -r: the binary, or a wrapper script running argv */
};

G_DEFINE_TYPE (GroveOciRuntime, grove_oci_runtime, G_TYPE_OBJECT)

static void
grove_oci_runtime_finalize (GObject *object)
{
  GroveOciRuntime *self = GROVE_OCI_RUNTIME (object);

  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->argv, g_strfreev);
  g_clear_pointer (&self->state_root, g_free);
  g_clear_pointer (&self->conmon_path, g_free);
  g_clear_pointer (&self->conmon_runtime, g_free);
  G_OBJECT_CLASS (grove_oci_runtime_parent_class)->finalize (object);
}

static void
grove_oci_runtime_class_init (GroveOciRuntimeClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = grove_oci_runtime_finalize;
}

static void
grove_oci_runtime_init (GroveOciRuntime *self)
{
}

/**
 * grove_exec_result_free:
 * @result: (nullable) (transfer full): a #GroveExecResult
 *
 * Frees @result and its output.
 */
void
grove_exec_result_free (GroveExecResult *result)
{
  if (result == NULL)
    return;
  g_clear_pointer (&result->stdout_data, g_bytes_unref);
  g_clear_pointer (&result->stderr_data, g_bytes_unref);
  g_free (result);
}

/* runtimes take the ID as a path component and as an argument: no '/', no leading '-' */
static gboolean
container_id_valid (const char *container_id, GError **error)
{
  if (container_id == NULL || container_id[0] == '\0')
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "empty container ID");
  if (!g_ascii_isalnum (container_id[0]))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "invalid container ID '%s': must start with a letter or digit",
                        container_id);
  for (const char *p = container_id; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("_.+-", *p) == NULL)
      return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                          "invalid container ID '%s': only letters, digits and _.+- are allowed",
                          container_id);
  return TRUE;
}

static char *
find_program (const char *what, const char *program, GError **error)
{
  g_autofree char *found = NULL;

  if (g_path_is_absolute (program))
    {
      if (!g_file_test (program, G_FILE_TEST_IS_EXECUTABLE)
          || g_file_test (program, G_FILE_TEST_IS_DIR))
        return grove_throw (error, GROVE_ERROR_NOT_FOUND, "%s %s not found or not executable", what,
                            program),
               NULL;
      return g_strdup (program);
    }
  found = g_find_program_in_path (program);
  if (found == NULL)
    return grove_throw (error, GROVE_ERROR_NOT_FOUND, "%s %s not found in PATH", what, program),
           NULL;
  return g_steal_pointer (&found);
}

/* conmon takes one -r path: a runtime with prefix arguments gets a script that adds them */
static char *
write_wrapper_script (GroveOciRuntime *self, GError **error)
{
  g_autoptr (GString) script = g_string_new ("#!/bin/sh\nexec");
  g_autofree char *basename = g_strconcat (WRAPPER_PREFIX, self->name, NULL);
  g_autofree char *path = g_build_filename (self->state_root, basename, NULL);

  for (guint i = 0; self->argv[i] != NULL; i++)
    {
      g_autofree char *quoted = g_shell_quote (i == 0 ? self->path : self->argv[i]);
      g_string_append_printf (script, " %s", quoted);
    }
  g_string_append (script, " \"$@\"\n");
  if (!grove_write_file_at (AT_FDCWD, path, script->str, script->len, 0700, error))
    return g_prefix_error (error, "writing the wrapper script for OCI runtime %s: ", self->name),
           NULL;
  return g_steal_pointer (&path);
}

/**
 * grove_oci_runtime_new_with_argv:
 * @name: the handler's name, used in error messages (e.g. "runc")
 * @argv: (array zero-terminated=1): the runtime binary (absolute, or a name looked up in PATH)
 *   followed by arguments that go before every runtime command, e.g.
 *   `{ "/usr/libexec/grove/grove-runtime-exec", "crun", NULL }`
 * @state_root: the runtime's state directory, passed as `--root`; created 0700 if missing
 * @conmon_path: (nullable): conmon's path; %NULL looks `conmon` up in PATH
 * @error: return location
 *
 * Like grove_oci_runtime_new() for a runtime that is started through a helper. conmon takes
 * a single runtime path, so when @argv has prefix arguments a small wrapper script that runs
 * @argv is written into @state_root and given to conmon.
 *
 * Returns: (transfer full) (nullable): the runtime, or %NULL with @error set
 */
GroveOciRuntime *
grove_oci_runtime_new_with_argv (const char *name, const char *const *argv, const char *state_root,
                                 const char *conmon_path, GError **error)
{
  g_autoptr (GroveOciRuntime) self = NULL;

  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (argv != NULL, NULL);
  g_return_val_if_fail (state_root != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (name[0] == '\0' || strchr (name, '/') != NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "invalid OCI runtime name '%s': must be non-empty without '/'", name),
           NULL;
  if (argv[0] == NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "OCI runtime %s: empty command", name),
           NULL;
  self = g_object_new (GROVE_TYPE_OCI_RUNTIME, NULL);
  self->name = g_strdup (name);
  self->argv = g_strdupv ((char **)argv);
  self->state_root = g_strdup (state_root);
  self->path = find_program ("OCI runtime", argv[0], error);
  if (self->path == NULL)
    return NULL;
  self->conmon_path = find_program ("conmon", conmon_path != NULL ? conmon_path : "conmon", error);
  if (self->conmon_path == NULL)
    return NULL;
  if (!grove_mkdir_p_at (AT_FDCWD, state_root, 0700, error))
    return g_prefix_error (error, "OCI runtime %s state root: ", name), NULL;
  if (argv[1] == NULL)
    self->conmon_runtime = g_strdup (self->path);
  else
    self->conmon_runtime = write_wrapper_script (self, error);
  if (self->conmon_runtime == NULL)
    return NULL;
  return g_steal_pointer (&self);
}

/**
 * grove_oci_runtime_new:
 * @name: the handler's name, used in error messages (e.g. "runc")
 * @path: the runtime binary: absolute, or a name looked up in PATH
 * @state_root: the runtime's state directory, passed as `--root`; created 0700 if missing
 * @conmon_path: (nullable): conmon's path; %NULL looks `conmon` up in PATH
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the runtime, or %NULL with @error set
 *   (%GROVE_ERROR_NOT_FOUND naming the runtime or conmon when it is missing)
 */
GroveOciRuntime *
grove_oci_runtime_new (const char *name, const char *path, const char *state_root,
                       const char *conmon_path, GError **error)
{
  const char *argv[] = { path, NULL };

  g_return_val_if_fail (path != NULL, NULL);
  return grove_oci_runtime_new_with_argv (name, argv, state_root, conmon_path, error);
}

/**
 * grove_oci_runtime_get_name:
 * @self: a #GroveOciRuntime
 *
 * Returns: (transfer none): the handler's name
 */
const char *
grove_oci_runtime_get_name (GroveOciRuntime *self)
{
  g_return_val_if_fail (GROVE_IS_OCI_RUNTIME (self), NULL);
  return self->name;
}

/**
 * grove_oci_runtime_get_path:
 * @self: a #GroveOciRuntime
 *
 * Returns: (transfer none): the runtime binary's absolute path (for a runtime made with
 *   grove_oci_runtime_new_with_argv(), the helper that comes first)
 */
const char *
grove_oci_runtime_get_path (GroveOciRuntime *self)
{
  g_return_val_if_fail (GROVE_IS_OCI_RUNTIME (self), NULL);
  return self->path;
}

/* ---- runtime commands ---- */

typedef struct _CommandData CommandData;

/* reads what a successful command printed into @data */
typedef gboolean (*CommandOutputFunc) (GroveOciRuntime *self, CommandData *data,
                                       GBytes *stdout_data, GError **error);

/* one kind of runtime command: how it is run, named and judged */
typedef struct
{
  const char *verb;
  GCallback source_tag;           /* the public _async function */
  const char *task_name;          /* its name, as g_task_set_source_tag() would set it */
  gboolean missing_is_done;       /* delete: what is already gone is done */
  CommandOutputFunc parse_output; /* state: its JSON; NULL when stdout does not matter */
} CommandKind;

/* what one runtime command is about, for its error messages */
struct _CommandData
{
  const CommandKind *kind;
  char *container_id;
  char *status; /* state: the parsed status */
  int pid;      /* state: the parsed PID */
};

static void
command_data_free (CommandData *data)
{
  g_free (data->container_id);
  g_free (data->status);
  g_free (data);
}

/* `<runtime> --root R <verb> [option] <container_id> [extra]`, NULL-terminated */
static GPtrArray *
runtime_argv_new (GroveOciRuntime *self, const char *verb, const char *option,
                  const char *container_id, const char *extra)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (argv, g_strdup (self->path));
  for (guint i = 1; self->argv[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (self->argv[i]));
  g_ptr_array_add (argv, g_strdup ("--root"));
  g_ptr_array_add (argv, g_strdup (self->state_root));
  g_ptr_array_add (argv, g_strdup (verb));
  if (option != NULL)
    g_ptr_array_add (argv, g_strdup (option));
  g_ptr_array_add (argv, g_strdup (container_id));
  if (extra != NULL)
    g_ptr_array_add (argv, g_strdup (extra));
  g_ptr_array_add (argv, NULL);
  return argv;
}

/* appends a logfmt value that starts after its opening quote, unescaped */
static void
append_logfmt_value (GString *out, const char *p)
{
  for (; *p != '\0' && *p != '"'; p++)
    {
      if (*p == '\\' && p[1] != '\0')
        p++;
      g_string_append_c (out, *p);
    }
}

/*
 * runc logs errors as logfmt (`time="..." level=error msg="..."`): keep only the message.
 * Lines are joined with "; " so the result fits an error message.
 */
static char *
tidy_runtime_message (const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr (GString) out = g_string_new (NULL);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = g_strstrip (lines[i]);
      const char *msg = strstr (line, " msg=\"");

      if (line[0] == '\0')
        continue;
      if (out->len > 0)
        g_string_append (out, "; ");
      if (g_str_has_prefix (line, "time=\"") && msg != NULL)
        append_logfmt_value (out, msg + strlen (" msg=\""));
      else
        g_string_append (out, line);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/*
 * Collects a runtime command's outcome. Returns FALSE with @error set when the command
 * could not run or was cancelled; otherwise TRUE with *@out_success telling whether it
 * exited 0, *@out_stdout what it printed and *@out_message its trimmed stderr.
 */
static gboolean
runtime_command_collect (GSubprocess *proc, GAsyncResult *result, gboolean *out_success,
                         GBytes **out_stdout, char **out_message, GError **error)
{
  g_autoptr (GBytes) stderr_data = NULL;
  g_autofree char *raw = NULL;
  gsize len = 0;
  const char *text = NULL;

  if (!g_subprocess_communicate_finish (proc, result, out_stdout, &stderr_data, error))
    return FALSE;
  *out_success = g_subprocess_get_if_exited (proc) && g_subprocess_get_exit_status (proc) == 0;
  text = stderr_data != NULL ? g_bytes_get_data (stderr_data, &len) : NULL;
  raw = g_strndup (text != NULL ? text : "", len);
  *out_message = tidy_runtime_message (raw);
  if (**out_message == '\0')
    {
      g_free (*out_message);
      *out_message
          = g_strdup_printf ("exited with status %d", g_subprocess_get_if_exited (proc)
                                                          ? g_subprocess_get_exit_status (proc)
                                                          : 128 + g_subprocess_get_term_sig (proc));
    }
  return TRUE;
}

/* runc says "container does not exist"; crun names the missing state directory */
static gboolean
container_missing (GroveOciRuntime *self, const char *container_id, const char *message)
{
  g_autofree char *state_dir = g_build_filename (self->state_root, container_id, NULL);

  return !g_file_test (state_dir, G_FILE_TEST_EXISTS) || strstr (message, "does not exist") != NULL;
}

/* judges an ended command: its output when it succeeded, else the runtime's message */
static gboolean
runtime_command_check (GroveOciRuntime *self, CommandData *data, gboolean success,
                       GBytes *stdout_data, const char *message, GError **error)
{
  gboolean missing = FALSE;

  if (success)
    return data->kind->parse_output == NULL
           || data->kind->parse_output (self, data, stdout_data, error);
  missing = container_missing (self, data->container_id, message);
  if (missing && data->kind->missing_is_done)
    return TRUE;
  return grove_throw (error, missing ? GROVE_ERROR_NOT_FOUND : GROVE_ERROR_FAILED, "%s %s %s: %s",
                      self->name, data->kind->verb, data->container_id, message);
}

static void
on_runtime_command_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  GroveOciRuntime *self = g_task_get_source_object (task);
  CommandData *data = g_task_get_task_data (task);
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GBytes) stdout_data = NULL;
  g_autofree char *message = NULL;
  gboolean success = FALSE;

  if (!runtime_command_collect (G_SUBPROCESS (source), result, &success, &stdout_data, &message,
                                &local_error)
      || !runtime_command_check (self, data, success, stdout_data, message, &local_error))
    {
      g_task_return_error (task, g_steal_pointer (&local_error));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

/*
 * Runs `<runtime> --root R <verb> [option] <container_id> [extra]` for a task that
 * returns a boolean: %TRUE, or the runtime's message in a %GROVE_ERROR
 * (%GROVE_ERROR_NOT_FOUND for an unknown container).
 */
static void
runtime_command_async (GroveOciRuntime *self, const CommandKind *kind, const char *option,
                       const char *container_id, const char *extra, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr (GPtrArray) argv = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) local_error = NULL;
  CommandData *data = g_new0 (CommandData, 1);

  (g_task_set_source_tag) (task, (gpointer)kind->source_tag);
  g_task_set_name (task, kind->task_name);
  data->kind = kind;
  data->container_id = g_strdup (container_id);
  g_task_set_task_data (task, data, (GDestroyNotify)command_data_free);
  if (!container_id_valid (container_id, &local_error))
    {
      g_task_return_error (task, g_steal_pointer (&local_error));
      return;
    }
  argv = runtime_argv_new (self, kind->verb, option, container_id, extra);
  g_debug ("running %s %s %s", self->name, kind->verb, container_id);
  proc = g_subprocess_newv ((const char *const *)argv->pdata,
                            G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                            &local_error);
  if (proc == NULL)
    {
      g_prefix_error (&local_error, "%s %s: ", self->name, kind->verb);
      g_task_return_error (task, g_steal_pointer (&local_error));
      return;
    }
  g_subprocess_communicate_async (proc, NULL, cancellable, on_runtime_command_done,
                                  g_object_ref (task));
}

static gboolean
parse_state (GroveOciRuntime *self, CommandData *data, GBytes *json, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local_error = NULL;
  gsize len = 0;
  const char *text = json != NULL ? g_bytes_get_data (json, &len) : NULL;
  JsonNode *root = NULL;
  JsonObject *object = NULL;

  if (json == NULL)
    return grove_throw (error, GROVE_ERROR_FAILED, "%s state %s: no output", self->name,
                        data->container_id);
  if (!json_parser_load_from_data (parser, text != NULL ? text : "", len, &local_error))
    return grove_throw (error, GROVE_ERROR_FAILED, "%s state %s: unreadable output: %s", self->name,
                        data->container_id, local_error->message);
  root = json_parser_get_root (parser);
  object = root != NULL && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  if (object == NULL || json_object_get_string_member_with_default (object, "status", NULL) == NULL)
    return grove_throw (error, GROVE_ERROR_FAILED, "%s state %s: output has no \"status\"",
                        self->name, data->container_id);
  data->status = g_strdup (json_object_get_string_member (object, "status"));
  data->pid = (int)json_object_get_int_member_with_default (object, "pid", 0);
  return TRUE;
}

static const CommandKind start_command = {
  "start", G_CALLBACK (grove_oci_runtime_start_async), "grove_oci_runtime_start_async", FALSE, NULL,
};
static const CommandKind kill_command = {
  "kill", G_CALLBACK (grove_oci_runtime_kill_async), "grove_oci_runtime_kill_async", FALSE, NULL,
};
static const CommandKind delete_command = {
  "delete", G_CALLBACK (grove_oci_runtime_delete_async), "grove_oci_runtime_delete_async", TRUE,
  NULL,
};
static const CommandKind update_command = {
  "update", G_CALLBACK (grove_oci_runtime_update_async), "grove_oci_runtime_update_async", FALSE,
  NULL,
};
static const CommandKind state_command = {
  "state",     G_CALLBACK (grove_oci_runtime_state_async), "grove_oci_runtime_state_async", FALSE,
  parse_state,
};

/**
 * grove_oci_runtime_start_async:
 * @self: a #GroveOciRuntime
 * @container_id: a container made by grove_oci_runtime_create_async()
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the runtime's `start` has ended
 * @user_data: data for @callback
 *
 * Runs `<runtime> --root <state_root> start <container_id>`.
 */
void
grove_oci_runtime_start_async (GroveOciRuntime *self, const char *container_id,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data)
{
  g_return_if_fail (GROVE_IS_OCI_RUNTIME (self));
  runtime_command_async (self, &start_command, NULL, container_id, NULL, cancellable, callback,
                         user_data);
}

/**
 * grove_oci_runtime_start_finish:
 * @self: a #GroveOciRuntime
 * @result: the #GAsyncResult
 * @error: return location; the message carries the runtime's stderr
 *
 * Returns: %TRUE when the container was started
 */
gboolean
grove_oci_runtime_start_finish (GroveOciRuntime *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * grove_oci_runtime_kill_async:
 * @self: a #GroveOciRuntime
 * @container_id: the container
 * @signal: the signal number
 * @all: send it to every process of the container (`--all`), not just its init
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the runtime's `kill` has ended
 * @user_data: data for @callback
 *
 * Runs `<runtime> --root <state_root> kill [--all] <container_id> <signal>`.
 */
void
grove_oci_runtime_kill_async (GroveOciRuntime *self, const char *container_id, int signal,
                              gboolean all, GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
  g_autofree char *signum = g_strdup_printf ("%d", signal);

  g_return_if_fail (GROVE_IS_OCI_RUNTIME (self));
  runtime_command_async (self, &kill_command, all ? "--all" : NULL, container_id, signum,
                         cancellable, callback, user_data);
}

/**
 * grove_oci_runtime_kill_finish:
 * @self: a #GroveOciRuntime
 * @result: the #GAsyncResult
 * @error: return location; %GROVE_ERROR_NOT_FOUND for an unknown container
 *
 * Returns: %TRUE when the signal was sent
 */
gboolean
grove_oci_runtime_kill_finish (GroveOciRuntime *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * grove_oci_runtime_update_async:
 * @self: a #GroveOciRuntime
 * @container_id: a created or running container
 * @resources_path: a file holding OCI `linux.resources` JSON
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the runtime's `update` has ended
 * @user_data: data for @callback
 *
 * Runs `<runtime> --root <state_root> update --resources=<file> <container_id>`: changes the
 * container's cgroup limits in place.
 */
void
grove_oci_runtime_update_async (GroveOciRuntime *self, const char *container_id,
                                const char *resources_path, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  g_autofree char *option = g_strconcat ("--resources=", resources_path, NULL);

  g_return_if_fail (GROVE_IS_OCI_RUNTIME (self));
  runtime_command_async (self, &update_command, option, container_id, NULL, cancellable, callback,
                         user_data);
}

/**
 * grove_oci_runtime_update_finish:
 * @self: a #GroveOciRuntime
 * @result: the #GAsyncResult
 * @error: return location; %GROVE_ERROR_NOT_FOUND for an unknown container
 *
 * Returns: %TRUE when the limits were changed
 */
gboolean
grove_oci_runtime_update_finish (GroveOciRuntime *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * grove_oci_runtime_delete_async:
 * @self: a #GroveOciRuntime
 * @container_id: the container
 * @force: delete a running container too (`--force` kills it)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the runtime's `delete` has ended
 * @user_data: data for @callback
 *
 * Runs `<runtime> --root <state_root> delete [--force] <container_id>`. Deleting a
 * container the runtime does not know is not an error.
 */
void
grove_oci_runtime_delete_async (GroveOciRuntime *self, const char *container_id, gboolean force,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  g_return_if_fail (GROVE_IS_OCI_RUNTIME (self));
  runtime_command_async (self, &delete_command, force ? "--force" : NULL, container_id, NULL,
                         cancellable, callback, user_data);
}

/**
 * grove_oci_runtime_delete_finish:
 * @self: a #GroveOciRuntime
 * @result: the #GAsyncResult
 * @error: return location
 *
 * Returns: %TRUE when the container is gone (or was never there)
 */
gboolean
grove_oci_runtime_delete_finish (GroveOciRuntime *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * grove_oci_runtime_state_async:
 * @self: a #GroveOciRuntime
 * @container_id: the container
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the runtime's `state` has ended
 * @user_data: data for @callback
 *
 * Runs `<runtime> --root <state_root> state <container_id>`.
 */
void
grove_oci_runtime_state_async (GroveOciRuntime *self, const char *container_id,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data)
{
  g_return_if_fail (GROVE_IS_OCI_RUNTIME (self));
  runtime_command_async (self, &state_command, NULL, container_id, NULL, cancellable, callback,
                         user_data);
}

/**
 * grove_oci_runtime_state_finish:
 * @self: a #GroveOciRuntime
 * @result: the #GAsyncResult
 * @out_status: (out) (optional) (transfer full): the OCI status: "creating", "created",
 *   "running", "paused" or "stopped"
 * @out_pid: (out) (optional): the container's init PID (0 once stopped)
 * @error: return location; %GROVE_ERROR_NOT_FOUND for an unknown container
 *
 * Returns: %TRUE on success
 */
gboolean
grove_oci_runtime_state_finish (GroveOciRuntime *self, GAsyncResult *result, char **out_status,
                                int *out_pid, GError **error)
{
  CommandData *data = NULL;

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;
  data = g_task_get_task_data (G_TASK (result));
  if (out_status != NULL)
    *out_status = g_strdup (data->status);
  if (out_pid != NULL)
    *out_pid = data->pid;
  return TRUE;
}

/* ---- conmon ---- */

/**
 * grove_oci_runtime_get_conmon_path:
 * @self: a #GroveOciRuntime
 *
 * Returns: the conmon binary this runtime is driven through
 */
const char *
grove_oci_runtime_get_conmon_path (GroveOciRuntime *self)
{
  g_return_val_if_fail (GROVE_IS_OCI_RUNTIME (self), NULL);
  return self->conmon_path;
}

/**
 * grove_oci_runtime_get_conmon_runtime:
 * @self: a #GroveOciRuntime
 *
 * Returns: what conmon runs as the runtime (`-r`): the binary, or a wrapper script
 */
const char *
grove_oci_runtime_get_conmon_runtime (GroveOciRuntime *self)
{
  g_return_val_if_fail (GROVE_IS_OCI_RUNTIME (self), NULL);
  return self->conmon_runtime;
}

/**
 * grove_oci_runtime_get_state_root:
 * @self: a #GroveOciRuntime
 *
 * Returns: the runtime's `--root`
 */
const char *
grove_oci_runtime_get_state_root (GroveOciRuntime *self)
{
  g_return_val_if_fail (GROVE_IS_OCI_RUNTIME (self), NULL);
  return self->state_root;
}

/**
 * grove_conmon_pipe_to_launcher:
 * @launcher: conmon's launcher
 * @child_writes: whether conmon writes the pipe (sync, attach) or reads it (start)
 * @child_fd: the fd conmon finds its end on
 * @env_name: the variable that tells conmon @child_fd
 * @error: return location
 *
 * Makes a pipe whose other end goes to conmon as @child_fd; the launcher owns the child's
 * end and closes it when it is freed.
 *
 * Returns: the parent's end, or -1 with @error set
 */
int
grove_conmon_pipe_to_launcher (GSubprocessLauncher *launcher, gboolean child_writes, int child_fd,
                               const char *env_name, GError **error)
{
  int fds[2] = { -1, -1 };
  g_autofree char *fd_text = g_strdup_printf ("%d", child_fd);

  if (!g_unix_open_pipe (fds, FD_CLOEXEC, error))
    return g_prefix_error (error, "creating conmon's %s pipe: ", env_name), -1;
  g_subprocess_launcher_take_fd (launcher, fds[child_writes ? 1 : 0], child_fd);
  g_subprocess_launcher_setenv (launcher, env_name, fd_text, TRUE);
  return fds[child_writes ? 0 : 1];
}

/**
 * grove_conmon_parse_sync_line:
 * @line: one line conmon wrote
 * @out_data: (out): the number in it
 * @out_message: (out) (transfer full): the message, "" when there is none
 * @error: return location
 *
 * Parses one sync-pipe line: `{"data": N}` or `{"data": -1, "message": "..."}`.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_conmon_parse_sync_line (const char *line, gint64 *out_data, char **out_message,
                              GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local_error = NULL;
  JsonNode *root = NULL;
  JsonObject *object = NULL;

  if (!json_parser_load_from_data (parser, line, -1, &local_error))
    return grove_throw (error, GROVE_ERROR_FAILED, "unreadable message from conmon '%s': %s", line,
                        local_error->message);
  root = json_parser_get_root (parser);
  object = root != NULL && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  if (object == NULL || !json_object_has_member (object, "data"))
    return grove_throw (error, GROVE_ERROR_FAILED, "message from conmon without \"data\": '%s'",
                        line);
  *out_data = json_object_get_int_member (object, "data");
  *out_message
      = tidy_runtime_message (json_object_get_string_member_with_default (object, "message", ""));
  return TRUE;
}

/**
 * grove_conmon_failure_text:
 * @conmon: an exited conmon
 * @stderr_data: (nullable): what it wrote to stderr (only before it detached: after that
 *   its fds are /dev/null)
 *
 * Returns: (transfer full): why conmon failed, for an error message
 */
char *
grove_conmon_failure_text (GSubprocess *conmon, GBytes *stderr_data)
{
  gsize len = 0;
  const char *text = stderr_data != NULL ? g_bytes_get_data (stderr_data, &len) : NULL;
  g_autofree char *trimmed = g_strstrip (g_strndup (text != NULL ? text : "", len));
  int status = 0;

  if (g_subprocess_get_if_exited (conmon))
    status = g_subprocess_get_exit_status (conmon);
  else if (g_subprocess_get_if_signaled (conmon))
    status = 128 + g_subprocess_get_term_sig (conmon);
  if (trimmed[0] == '\0')
    return g_strdup_printf ("conmon exited with status %d", status);
  return g_strdup_printf ("conmon exited with status %d: %s", status, trimmed);
}

/* reads the next line of a sync pipe for @task; @done gets the GDataInputStream */
static void
sync_pipe_read_line (GDataInputStream *stream, GAsyncReadyCallback done, GTask *task)
{
  /* no cancellable: conmon's answer is always awaited, so a cancelled call can undo it */
  g_data_input_stream_read_line_async (stream, G_PRIORITY_DEFAULT, NULL, done, g_object_ref (task));
}

/* a launcher for conmon with its sync pipe; *@out_sync_fd gets the pipe's read end */
static GSubprocessLauncher *
conmon_launcher_new (int *out_sync_fd, GError **error)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (
      G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE);

  *out_sync_fd
      = grove_conmon_pipe_to_launcher (launcher, TRUE, SYNC_PIPE_CHILD_FD, "_OCI_SYNCPIPE", error);
  if (*out_sync_fd < 0)
    return NULL;
  return g_steal_pointer (&launcher);
}

/*
 * Spawns conmon in @cwd (it drops files, an "oom" marker, into its working directory).
 * The launcher is freed here: the child's pipe ends must close, or the sync pipe never
 * reports EOF.
 */
static GSubprocess *
conmon_spawn (GSubprocessLauncher **launcher, const char *cwd, GPtrArray *argv, GError **error)
{
  g_autoptr (GSubprocessLauncher) owned = g_steal_pointer (launcher);

  g_subprocess_launcher_set_cwd (owned, cwd);
  return g_subprocess_launcher_spawnv (owned, (const char *const *)argv->pdata, error);
}

/* awaits conmon's exit and reads its sync pipe (@sync_fd, taken) for @task */
static GDataInputStream *
conmon_watch (GTask *task, GSubprocess *conmon, int sync_fd, GAsyncReadyCallback on_exited,
              GAsyncReadyCallback on_sync_line)
{
  g_autoptr (GInputStream) sync_input = g_unix_input_stream_new (sync_fd, TRUE);
  GDataInputStream *sync_stream = g_data_input_stream_new (sync_input);

  g_subprocess_communicate_async (conmon, NULL, NULL, on_exited, g_object_ref (task));
  sync_pipe_read_line (sync_stream, on_sync_line, task);
  return sync_stream;
}

/* collects an exited conmon's stderr; failing to wait for it only matters in the logs */
static void
conmon_collect_exit (GAsyncResult *result, GSubprocess *conmon, GBytes **out_stderr,
                     const char *what, const char *container_id)
{
  g_autoptr (GError) local_error = NULL;

  if (!g_subprocess_communicate_finish (conmon, result, NULL, out_stderr, &local_error))
    g_debug ("waiting for conmon of %s%s: %s", what, container_id, local_error->message);
}

/* ---- create ---- */

typedef struct
{
  char *container_id;
  char *run_dir;
  GSubprocess *conmon;
  GDataInputStream *sync_stream;
  gboolean sync_done;
  char *sync_line; /* NULL: conmon closed the pipe without a word */
  GError *sync_error;
  gboolean conmon_done;
  GBytes *conmon_stderr;
  int pid;
  int conmon_pid;
} CreateData;

static void
create_data_free (CreateData *data)
{
  g_free (data->container_id);
  g_free (data->run_dir);
  g_clear_object (&data->conmon);
  g_clear_object (&data->sync_stream);
  g_free (data->sync_line);
  g_clear_error (&data->sync_error);
  g_clear_pointer (&data->conmon_stderr, g_bytes_unref);
  g_free (data);
}

static GPtrArray *
create_conmon_argv (GroveOciRuntime *self, const GroveCreateOptions *options)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  const char *const fixed[] = {
    self->conmon_path,
    "--api-version",
    "1",
    "-c",
    options->container_id,
    "-u",
    options->container_id,
    "-n",
    options->container_id,
    "-r",
    self->conmon_runtime,
    "-b",
    options->bundle,
    "--exit-dir",
    options->exit_dir,
    "--persist-dir",
    options->run_dir,
    "--socket-dir-path",
    options->run_dir,
    "--log-level",
    "info",
    NULL,
  };

  for (guint i = 0; fixed[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (fixed[i]));
  g_ptr_array_add (argv, g_strdup ("-p"));
  g_ptr_array_add (argv, g_build_filename (options->run_dir, "pidfile", NULL));
  g_ptr_array_add (argv, g_strdup ("-P"));
  g_ptr_array_add (argv, g_build_filename (options->run_dir, "conmon.pid", NULL));
  g_ptr_array_add (argv, g_strdup ("-l"));
  g_ptr_array_add (argv, g_strconcat ("k8s-file:", options->log_path, NULL));
  /* conmon puts runtime args before the command: `<runtime> --root=R create ...` */
  g_ptr_array_add (argv, g_strdup ("--runtime-arg"));
  g_ptr_array_add (argv, g_strconcat ("--root=", self->state_root, NULL));
  if (options->terminal)
    g_ptr_array_add (argv, g_strdup ("-t"));
  if (options->stdin)
    g_ptr_array_add (argv, g_strdup ("-i"));
  /* conmon 2.1.6 has no --stdin-once: it closes stdin when the attached client leaves
   * unless told --leave-stdin-open */
  if (options->stdin && !options->stdin_once)
    g_ptr_array_add (argv, g_strdup ("--leave-stdin-open"));
  g_ptr_array_add (argv, NULL);
  return argv;
}

static gboolean
create_options_valid (const GroveCreateOptions *options, GError **error)
{
  if (!container_id_valid (options->container_id, error))
    return FALSE;
  if (options->bundle == NULL || options->run_dir == NULL || options->exit_dir == NULL
      || options->log_path == NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "creating container %s: bundle, run dir, exit dir and log path are all "
                        "required",
                        options->container_id);
  if (!grove_mkdir_p_at (AT_FDCWD, options->run_dir, 0700, error)
      || !grove_mkdir_p_at (AT_FDCWD, options->exit_dir, 0700, error))
    return g_prefix_error (error, "creating container %s: ", options->container_id), FALSE;
  return TRUE;
}

/*
 * Writes conmon's start byte. A conmon that already died must not take us down with
 * SIGPIPE: the signal is blocked in this thread and a pending one dropped. That conmon's
 * stderr and exit status then tell what went wrong, so EPIPE is not an error here.
 */
static gboolean
write_start_byte (int fd, GError **error)
{
  const struct timespec no_wait = { 0, 0 };
  sigset_t pipe_set;
  sigset_t old_set;
  ssize_t n = 0;
  int errsv = 0;

  sigemptyset (&pipe_set);
  sigaddset (&pipe_set, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &pipe_set, &old_set);
  do
    n = write (fd, "0", 1);
  while (n < 0 && errno == EINTR);
  errsv = errno;
  if (n < 0 && errsv == EPIPE && !sigismember (&old_set, SIGPIPE))
    while (sigtimedwait (&pipe_set, NULL, &no_wait) < 0 && errno == EINTR)
      ;
  pthread_sigmask (SIG_SETMASK, &old_set, NULL);
  if (n < 0 && errsv == EPIPE)
    g_debug ("conmon exited before it got the start byte");
  else if (n < 0)
    return grove_throw_errno_code (error, errsv, "writing conmon's start pipe");
  return TRUE;
}

/* starts conmon, gives it the start signal and returns the sync pipe's read end */
static GSubprocess *
create_spawn_conmon (GroveOciRuntime *self, const GroveCreateOptions *options, int *out_sync_fd,
                     GError **error)
{
  g_autoptr (GPtrArray) argv = create_conmon_argv (self, options);
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) conmon = NULL;
  grove_autofd int sync_fd = -1;
  grove_autofd int start_fd = -1;

  launcher = conmon_launcher_new (&sync_fd, error);
  if (launcher == NULL)
    return NULL;
  start_fd = grove_conmon_pipe_to_launcher (launcher, FALSE, START_PIPE_CHILD_FD, "_OCI_STARTPIPE",
                                            error);
  if (start_fd < 0)
    return NULL;
  /* the files go to the run dir */
  conmon = conmon_spawn (&launcher, options->run_dir, argv, error);
  if (conmon == NULL)
    return g_prefix_error (error, "starting conmon for container %s: ", options->container_id),
           NULL;
  /* nothing to place in a cgroup first: let conmon go on at once */
  if (!write_start_byte (start_fd, error))
    {
      g_subprocess_force_exit (conmon);
      return g_prefix_error (error, "starting conmon for container %s: ", options->container_id),
             NULL;
    }
  *out_sync_fd = grove_steal_fd (&sync_fd);
  return g_steal_pointer (&conmon);
}

static int
read_pid_file (const char *path, GError **error)
{
  g_autoptr (GBytes) bytes = grove_read_file_at (AT_FDCWD, path, PID_FILE_MAX_SIZE, error);
  g_autofree char *text = NULL;
  gint64 pid = 0;

  if (bytes == NULL)
    return -1;
  text = g_strstrip (g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes)));
  if (!g_ascii_string_to_signed (text, 10, 1, G_MAXINT, &pid, NULL))
    return grove_throw (error, GROVE_ERROR_FAILED, "%s does not hold a PID: '%s'", path, text), -1;
  return (int)pid;
}

static void
on_cancelled_create_deleted (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) local_error = NULL;

  if (!grove_oci_runtime_delete_finish (GROVE_OCI_RUNTIME (source), result, &local_error))
    g_warning ("undoing a cancelled create: %s", local_error->message);
  g_task_return_error_if_cancelled (task);
}

/* a create cancelled while conmon worked: take the container down again */
static void
create_undo (GTask *task)
{
  GroveOciRuntime *self = g_task_get_source_object (task);
  CreateData *data = g_task_get_task_data (task);

  g_debug ("create of %s was cancelled: removing the container again", data->container_id);
  if (data->pid > 0)
    kill (data->pid, SIGKILL);
  grove_oci_runtime_delete_async (self, data->container_id, TRUE, NULL, on_cancelled_create_deleted,
                                  g_object_ref (task));
}

static gboolean
create_parse_result (GroveOciRuntime *self, CreateData *data, GError **error)
{
  g_autofree char *message = NULL;
  g_autofree char *pid_path = NULL;
  gint64 value = 0;

  if (data->sync_line == NULL)
    {
      g_autofree char *why = grove_conmon_failure_text (data->conmon, data->conmon_stderr);
      return grove_throw (error, GROVE_ERROR_FAILED, "%s create %s: %s%s%s", self->name,
                          data->container_id, why, data->sync_error != NULL ? "; " : "",
                          data->sync_error != NULL ? data->sync_error->message : "");
    }
  if (!grove_conmon_parse_sync_line (data->sync_line, &value, &message, error))
    return g_prefix_error (error, "%s create %s: ", self->name, data->container_id), FALSE;
  if (value <= 0 || value > G_MAXINT)
    return grove_throw (error, GROVE_ERROR_FAILED, "%s create %s: %s", self->name,
                        data->container_id,
                        message[0] != '\0' ? message : "failed without a message");
  data->pid = (int)value;
  pid_path = g_build_filename (data->run_dir, "conmon.pid", NULL);
  data->conmon_pid = read_pid_file (pid_path, error);
  if (data->conmon_pid < 0)
    return g_prefix_error (error, "conmon of container %s: ", data->container_id), FALSE;
  return TRUE;
}

static void
create_maybe_complete (GTask *task)
{
  GroveOciRuntime *self = g_task_get_source_object (task);
  CreateData *data = g_task_get_task_data (task);
  g_autoptr (GError) local_error = NULL;

  if (!data->sync_done || !data->conmon_done)
    return;
  if (!create_parse_result (self, data, &local_error))
    {
      g_task_return_error (task, g_steal_pointer (&local_error));
      return;
    }
  if (g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    {
      create_undo (task);
      return;
    }
  g_debug ("container %s created: pid %d, conmon %d", data->container_id, data->pid,
           data->conmon_pid);
  g_task_return_boolean (task, TRUE);
}

static void
on_create_sync_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  CreateData *data = g_task_get_task_data (task);

  data->sync_line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result,
                                                          NULL, &data->sync_error);
  data->sync_done = TRUE;
  /* one line is all conmon says at create: stop listening */
  g_input_stream_close (G_INPUT_STREAM (data->sync_stream), NULL, NULL);
  create_maybe_complete (task);
}

static void
on_create_conmon_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  CreateData *data = g_task_get_task_data (task);

  /* the first conmon exits once it has forked the monitor; its stderr only matters on failure */
  conmon_collect_exit (result, G_SUBPROCESS (source), &data->conmon_stderr, "", data->container_id);
  data->conmon_done = TRUE;
  create_maybe_complete (task);
}

/**
 * grove_oci_runtime_create_async:
 * @self: a #GroveOciRuntime
 * @options: what to create
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once the runtime's `create` has ended
 * @user_data: data for @callback
 *
 * Starts conmon for one container; conmon runs the runtime's `create`, reports the
 * container's PID on its sync pipe and then stays with the container (it double-forks, so
 * it outlives the caller). The caller runs grove_oci_runtime_start_async() itself.
 *
 * A cancelled create still waits for conmon's answer (a fraction of a second) so it can
 * take a container that was made meanwhile down again: nothing is left behind.
 */
void
grove_oci_runtime_create_async (GroveOciRuntime *self, const GroveCreateOptions *options,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GError) local_error = NULL;
  CreateData *data = NULL;
  int sync_fd = -1;

  g_return_if_fail (GROVE_IS_OCI_RUNTIME (self));
  g_return_if_fail (options != NULL);
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, grove_oci_runtime_create_async);
  if (g_task_return_error_if_cancelled (task))
    return;
  if (!create_options_valid (options, &local_error))
    {
      g_task_return_error (task, g_steal_pointer (&local_error));
      return;
    }
  data = g_new0 (CreateData, 1);
  data->container_id = g_strdup (options->container_id);
  data->run_dir = g_strdup (options->run_dir);
  g_task_set_task_data (task, data, (GDestroyNotify)create_data_free);
  data->conmon = create_spawn_conmon (self, options, &sync_fd, &local_error);
  if (data->conmon == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&local_error));
      return;
    }
  data->sync_stream
      = conmon_watch (task, data->conmon, sync_fd, on_create_conmon_exited, on_create_sync_line);
}

/**
 * grove_oci_runtime_create_finish:
 * @self: a #GroveOciRuntime
 * @result: the #GAsyncResult
 * @out_pid: (out) (optional): the container's init PID
 * @out_conmon_pid: (out) (optional): the PID of the conmon that monitors it
 * @error: return location; the message carries the runtime's error
 *
 * Returns: %TRUE when the container exists in state "created"
 */
gboolean
grove_oci_runtime_create_finish (GroveOciRuntime *self, GAsyncResult *result, int *out_pid,
                                 int *out_conmon_pid, GError **error)
{
  CreateData *data = NULL;

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;
  data = g_task_get_task_data (G_TASK (result));
  if (out_pid != NULL)
    *out_pid = data->pid;
  if (out_conmon_pid != NULL)
    *out_conmon_pid = data->conmon_pid;
  return TRUE;
}

/* ---- exec ---- */

typedef struct
{
  char *container_id;
  char *tmp_dir; /* the process spec, pidfile, log, exit dir and a scratch bundle */
  guint timeout_seconds;
  GSubprocess *conmon;
  GDataInputStream *sync_stream;
  GPtrArray *sync_lines;
  GError *sync_error;
  gboolean sync_done;
  gboolean conmon_done;
  GBytes *conmon_stderr;
  int pid; /* atomic: the cancel handler may run in another thread */
  GCancellable *cancellable;
  gulong cancelled_id;
} ExecData;

static void
exec_remove_tmp_dir (ExecData *data)
{
  g_autoptr (GError) local_error = NULL;

  if (data->tmp_dir == NULL)
    return;
  if (!grove_rm_rf_at (AT_FDCWD, data->tmp_dir, NULL, &local_error))
    g_warning ("removing exec scratch dir %s: %s", data->tmp_dir, local_error->message);
  g_clear_pointer (&data->tmp_dir, g_free);
}

static void
exec_data_free (ExecData *data)
{
  if (data->cancelled_id != 0)
    g_cancellable_disconnect (data->cancellable, data->cancelled_id);
  g_clear_object (&data->cancellable);
  exec_remove_tmp_dir (data);
  g_free (data->container_id);
  g_clear_object (&data->conmon);
  g_clear_object (&data->sync_stream);
  g_clear_pointer (&data->sync_lines, g_ptr_array_unref);
  g_clear_error (&data->sync_error);
  g_clear_pointer (&data->conmon_stderr, g_bytes_unref);
  g_free (data);
}

/* replaces (or adds) the entries of @env whose key an entry of @overrides names */
static void
merge_env (JsonObject *process, const char *const *overrides)
{
  JsonArray *env = json_object_get_array_member (process, "env");
  g_autoptr (JsonArray) merged = json_array_new ();

  for (guint i = 0; env != NULL && i < json_array_get_length (env); i++)
    {
      const char *entry = json_array_get_string_element (env, i);
      const char *eq = entry != NULL ? strchr (entry, '=') : NULL;
      gboolean replaced = FALSE;

      for (guint j = 0; eq != NULL && overrides[j] != NULL && !replaced; j++)
        replaced = strncmp (overrides[j], entry, eq - entry + 1) == 0;
      if (entry != NULL && !replaced)
        json_array_add_string_element (merged, entry);
    }
  for (guint j = 0; overrides[j] != NULL; j++)
    json_array_add_string_element (merged, overrides[j]);
  json_object_set_array_member (process, "env", g_steal_pointer (&merged));
}

/**
 * grove_oci_exec_process_spec:
 * @bundle: the container's bundle
 * @options: the command, environment, working directory and terminal
 * @error: return location
 *
 * The bundle's process (user, environment, capabilities...) with @options applied: what
 * `runtime exec --process` takes.
 *
 * Returns: (transfer full) (nullable): the process as JSON text
 */
char *
grove_oci_exec_process_spec (const char *bundle, const GroveExecOptions *options, GError **error)
{
  g_autofree char *config_path = g_build_filename (bundle, "config.json", NULL);
  g_autoptr (GBytes) config = grove_read_file_at (AT_FDCWD, config_path, CONFIG_MAX_SIZE, error);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (JsonNode) process_node = NULL;
  JsonNode *root = NULL;
  JsonObject *process = NULL;
  JsonArray *args = NULL;

  if (config == NULL)
    return NULL;
  if (!json_parser_load_from_data (parser, g_bytes_get_data (config, NULL),
                                   g_bytes_get_size (config), error))
    return g_prefix_error (error, "reading %s: ", config_path), NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)
      || json_object_get_object_member (json_node_get_object (root), "process") == NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s has no \"process\" object",
                        config_path),
           NULL;
  /* json_node_copy is shallow: the parser owns the tree and lives until we are done */
  process_node = json_node_copy (json_object_get_member (json_node_get_object (root), "process"));
  process = json_node_get_object (process_node);
  args = json_array_new ();
  for (guint i = 0; options->argv[i] != NULL; i++)
    json_array_add_string_element (args, options->argv[i]);
  json_object_set_array_member (process, "args", args);
  json_object_set_boolean_member (process, "terminal", options->tty);
  json_object_remove_member (process, "consoleSize");
  if (options->tty && options->rows > 0 && options->cols > 0)
    {
      JsonObject *size = json_object_new ();

      json_object_set_int_member (size, "height", options->rows);
      json_object_set_int_member (size, "width", options->cols);
      json_object_set_object_member (process, "consoleSize", size);
    }
  if (options->env != NULL)
    merge_env (process, options->env);
  if (options->workdir != NULL)
    json_object_set_string_member (process, "cwd", options->workdir);
  return json_to_string (process_node, FALSE);
}

static GPtrArray *
exec_conmon_argv (GroveOciRuntime *self, ExecData *data)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  const char *const fixed[] = {
    self->conmon_path,
    "--api-version",
    "1",
    "-e",
    "--sync",
    "-c",
    data->container_id,
    /* the exec's own name for its attach socket link, inside the scratch dir */
    "-u",
    "exec",
    "-r",
    self->conmon_runtime,
    "--socket-dir-path",
    data->tmp_dir,
    "--log-level",
    "info",
    NULL,
  };

  for (guint i = 0; fixed[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (fixed[i]));
  /* conmon makes its attach socket and ctl/winsz fifos in -b even for exec: given the
   * container's bundle it would replace the container conmon's own; runc and crun `exec`
   * take no bundle, so a scratch one is enough */
  g_ptr_array_add (argv, g_strdup ("-b"));
  g_ptr_array_add (argv, g_build_filename (data->tmp_dir, "bundle", NULL));
  g_ptr_array_add (argv, g_strdup ("-p"));
  g_ptr_array_add (argv, g_build_filename (data->tmp_dir, "pidfile", NULL));
  g_ptr_array_add (argv, g_strdup ("--exec-process-spec"));
  g_ptr_array_add (argv, g_build_filename (data->tmp_dir, "process.json", NULL));
  g_ptr_array_add (argv, g_strdup ("-l"));
  g_ptr_array_add (argv, g_strconcat ("k8s-file:", data->tmp_dir, "/log", NULL));
  g_ptr_array_add (argv, g_strdup ("--exit-dir"));
  g_ptr_array_add (argv, g_build_filename (data->tmp_dir, "exit", NULL));
  g_ptr_array_add (argv, g_strdup ("--runtime-arg"));
  g_ptr_array_add (argv, g_strconcat ("--root=", self->state_root, NULL));
  if (data->timeout_seconds > 0)
    {
      g_ptr_array_add (argv, g_strdup ("-T"));
      g_ptr_array_add (argv, g_strdup_printf ("%u", data->timeout_seconds));
    }
  g_ptr_array_add (argv, NULL);
  return argv;
}

/**
 * grove_oci_exec_scratch_new:
 * @run_dir: where the scratch dir goes
 * @bundle: the container's bundle
 * @options: the process to run
 * @error: return location
 *
 * Makes the scratch dir of one exec through conmon: `process.json` (what `runtime exec
 * --process` takes), `bundle/` (conmon's -b: its attach socket and fifos, which must not
 * replace the container's own) and `exit/`. Nothing is left when it fails.
 *
 * Returns: (transfer full) (nullable): the scratch dir's path
 */
char *
grove_oci_exec_scratch_new (const char *run_dir, const char *bundle,
                            const GroveExecOptions *options, GError **error)
{
  g_autofree char *dir = g_build_filename (run_dir, "exec-XXXXXX", NULL);
  g_autofree char *spec = grove_oci_exec_process_spec (bundle, options, error);
  g_autofree char *spec_path = NULL;
  g_autofree char *scratch_bundle = NULL;
  g_autofree char *exit_dir = NULL;

  if (spec == NULL)
    return NULL;
  if (g_mkdtemp_full (dir, 0700) == NULL)
    return grove_throw_errno_code (error, errno, "creating exec scratch dir %s", dir), NULL;
  spec_path = g_build_filename (dir, "process.json", NULL);
  scratch_bundle = g_build_filename (dir, "bundle", NULL);
  exit_dir = g_build_filename (dir, "exit", NULL);
  if (!grove_write_file_at (AT_FDCWD, spec_path, spec, strlen (spec), 0600, error)
      || !grove_mkdir_p_at (AT_FDCWD, scratch_bundle, 0700, error)
      || !grove_mkdir_p_at (AT_FDCWD, exit_dir, 0700, error))
    {
      grove_rm_rf_at (AT_FDCWD, dir, NULL, NULL);
      return NULL;
    }
  return g_steal_pointer (&dir);
}

static gboolean
exec_prepare_tmp_dir (ExecData *data, const char *bundle, const char *run_dir,
                      const char *const *argv, GError **error)
{
  GroveExecOptions options = { .argv = argv, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 };

  data->tmp_dir = grove_oci_exec_scratch_new (run_dir != NULL ? run_dir : g_get_tmp_dir (), bundle,
                                              &options, error);
  return data->tmp_dir != NULL;
}

static GSubprocess *
exec_spawn_conmon (GroveOciRuntime *self, ExecData *data, int *out_sync_fd, GError **error)
{
  g_autoptr (GPtrArray) argv = exec_conmon_argv (self, data);
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) conmon = NULL;
  grove_autofd int sync_fd = -1;

  launcher = conmon_launcher_new (&sync_fd, error);
  if (launcher == NULL)
    return NULL;
  /* the files stay in the exec's scratch dir */
  conmon = conmon_spawn (&launcher, data->tmp_dir, argv, error);
  if (conmon == NULL)
    return g_prefix_error (error, "starting conmon to exec in %s: ", data->container_id), NULL;
  *out_sync_fd = grove_steal_fd (&sync_fd);
  return g_steal_pointer (&conmon);
}

/* appends one CRI log line's message: "<time> <stream> <P|F>[:more tags] <message>" */
static void
append_cri_log_line (const char *line, gsize len, GByteArray *out, GByteArray *err)
{
  const char *end = line + len;
  const char *stream = memchr (line, ' ', len);
  const char *tag = stream != NULL ? memchr (stream + 1, ' ', end - stream - 1) : NULL;
  const char *message = tag != NULL ? memchr (tag + 1, ' ', end - tag - 1) : NULL;
  GByteArray *target = NULL;

  if (message == NULL)
    return;
  stream++;
  tag++;
  message++;
  if (tag - stream == 7 && memcmp (stream, "stdout", 6) == 0)
    target = out;
  else if (tag - stream == 7 && memcmp (stream, "stderr", 6) == 0)
    target = err;
  else
    return;
  g_byte_array_append (target, (const guint8 *)message, end - message);
  /* P: a partial line whose newline is still to come; F: a full line */
  if (*tag == 'F')
    g_byte_array_append (target, (const guint8 *)"\n", 1);
}

static gboolean
exec_read_output (ExecData *data, GroveExecResult *result, GError **error)
{
  g_autofree char *log_path = g_build_filename (data->tmp_dir, "log", NULL);
  g_autoptr (GBytes) log = NULL;
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GByteArray) err = g_byte_array_new ();
  const char *text = NULL;
  gsize len = 0;

  log = grove_read_file_at (AT_FDCWD, log_path, EXEC_LOG_MAX_SIZE, error);
  if (log == NULL)
    return g_prefix_error (error, "reading the output of an exec in %s: ", data->container_id),
           FALSE;
  text = g_bytes_get_data (log, &len);
  for (gsize start = 0; start < len;)
    {
      const char *newline = memchr (text + start, '\n', len - start);
      gsize line_len = newline != NULL ? (gsize)(newline - (text + start)) : len - start;

      append_cri_log_line (text + start, line_len, out, err);
      start += line_len + 1;
    }
  result->stdout_data = g_byte_array_free_to_bytes (g_steal_pointer (&out));
  result->stderr_data = g_byte_array_free_to_bytes (g_steal_pointer (&err));
  return TRUE;
}

static gboolean
throw_exec_timed_out (GError **error, const char *container_id, guint seconds)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "exec in %s timed out after %u s",
               container_id, seconds);
  return FALSE;
}

/* conmon -e --sync says {"data": PID} once the process runs, then {"data": EXIT_CODE} */
static gboolean
exec_parse_result (GroveOciRuntime *self, ExecData *data, int *out_exit_code, GError **error)
{
  g_autofree char *message = NULL;
  gint64 value = 0;

  if (data->sync_lines->len == 0)
    {
      g_autofree char *why = grove_conmon_failure_text (data->conmon, data->conmon_stderr);
      return grove_throw (error, GROVE_ERROR_FAILED, "%s exec in %s: %s", self->name,
                          data->container_id, why);
    }
  for (guint i = 0; i < MIN (data->sync_lines->len, 2); i++)
    {
      g_clear_pointer (&message, g_free);
      if (!grove_conmon_parse_sync_line (g_ptr_array_index (data->sync_lines, i), &value, &message,
                                         error))
        return g_prefix_error (error, "%s exec in %s: ", self->name, data->container_id), FALSE;
      if (value < 0 && g_strcmp0 (message, CONMON_TIMED_OUT_MESSAGE) == 0)
        return throw_exec_timed_out (error, data->container_id, data->timeout_seconds);
      if (value < 0)
        return grove_throw (error, GROVE_ERROR_FAILED, "%s exec in %s: %s", self->name,
                            data->container_id,
                            message[0] != '\0' ? message : "failed without a message");
    }
  if (data->sync_lines->len < 2)
    {
      g_autofree char *why = grove_conmon_failure_text (data->conmon, data->conmon_stderr);
      return grove_throw (error, GROVE_ERROR_FAILED, "%s exec in %s: no exit code reported (%s)",
                          self->name, data->container_id, why);
    }
  *out_exit_code = (int)value;
  return TRUE;
}

static void
exec_maybe_complete (GTask *task)
{
  GroveOciRuntime *self = g_task_get_source_object (task);
  ExecData *data = g_task_get_task_data (task);
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GroveExecResult) exec_result = g_new0 (GroveExecResult, 1);

  if (!data->sync_done || !data->conmon_done)
    return;
  if (!exec_parse_result (self, data, &exec_result->exit_code, &local_error)
      || !exec_read_output (data, exec_result, &local_error))
    {
      exec_remove_tmp_dir (data);
      g_task_return_error (task, g_steal_pointer (&local_error));
      return;
    }
  exec_remove_tmp_dir (data);
  g_task_return_pointer (task, g_steal_pointer (&exec_result),
                         (GDestroyNotify)grove_exec_result_free);
}

/* a cancelled exec ends its process; conmon then reports and exits */
static void
on_exec_cancelled (GCancellable *cancellable, gpointer user_data)
{
  ExecData *data = user_data;
  int pid = g_atomic_int_get (&data->pid);

  if (pid > 0)
    kill (pid, SIGKILL);
}

static void
exec_note_pid (ExecData *data, const char *line)
{
  g_autofree char *message = NULL;
  gint64 value = 0;

  if (!grove_conmon_parse_sync_line (line, &value, &message, NULL) || value <= 0
      || value > G_MAXINT)
    return;
  g_atomic_int_set (&data->pid, (int)value);
  if (g_cancellable_is_cancelled (data->cancellable))
    on_exec_cancelled (data->cancellable, data);
}

static void
on_exec_sync_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  ExecData *data = g_task_get_task_data (task);
  char *line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL,
                                                     &data->sync_error);

  if (line == NULL)
    {
      data->sync_done = TRUE;
      exec_maybe_complete (task);
      return;
    }
  g_ptr_array_add (data->sync_lines, line);
  if (data->sync_lines->len == 1)
    exec_note_pid (data, line);
  sync_pipe_read_line (data->sync_stream, on_exec_sync_line, task);
}

static void
on_exec_conmon_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  ExecData *data = g_task_get_task_data (task);

  conmon_collect_exit (result, G_SUBPROCESS (source), &data->conmon_stderr, "an exec in ",
                       data->container_id);
  data->conmon_done = TRUE;
  exec_maybe_complete (task);
}

static ExecData *
exec_data_new (const char *container_id, guint timeout_seconds, GCancellable *cancellable)
{
  ExecData *data = g_new0 (ExecData, 1);

  data->container_id = g_strdup (container_id);
  data->timeout_seconds = timeout_seconds;
  data->sync_lines = g_ptr_array_new_with_free_func (g_free);
  data->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  return data;
}

/**
 * grove_oci_runtime_exec_sync_async:
 * @self: a #GroveOciRuntime
 * @container_id: a running container
 * @bundle: its bundle: the process settings (user, env, cwd, capabilities...) come from its
 *   `config.json`
 * @run_dir: (nullable): where the scratch files go (a temporary directory inside it, removed
 *   afterwards); %NULL for the system's temporary directory
 * @argv: (array zero-terminated=1): the command to run
 * @timeout_seconds: kill the process after this long; 0 for no limit
 * @cancellable: (nullable): a #GCancellable; cancelling kills the process
 * @callback: called once the process has ended
 * @user_data: data for @callback
 *
 * Runs @argv in the container through `conmon -e --sync` and collects its exit code and
 * output (CRI ExecSync).
 */
void
grove_oci_runtime_exec_sync_async (GroveOciRuntime *self, const char *container_id,
                                   const char *bundle, const char *run_dir, const char *const *argv,
                                   guint timeout_seconds, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GError) local_error = NULL;
  ExecData *data = NULL;
  int sync_fd = -1;

  g_return_if_fail (GROVE_IS_OCI_RUNTIME (self));
  g_return_if_fail (bundle != NULL);
  g_return_if_fail (argv != NULL && argv[0] != NULL);
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, grove_oci_runtime_exec_sync_async);
  if (g_task_return_error_if_cancelled (task))
    return;
  if (!container_id_valid (container_id, &local_error))
    {
      g_task_return_error (task, g_steal_pointer (&local_error));
      return;
    }
  data = exec_data_new (container_id, timeout_seconds, cancellable);
  g_task_set_task_data (task, data, (GDestroyNotify)exec_data_free);
  if (!exec_prepare_tmp_dir (data, bundle, run_dir, argv, &local_error))
    {
      g_task_return_error (task, g_steal_pointer (&local_error));
      return;
    }
  data->conmon = exec_spawn_conmon (self, data, &sync_fd, &local_error);
  if (data->conmon == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&local_error));
      return;
    }
  if (cancellable != NULL)
    data->cancelled_id
        = g_cancellable_connect (cancellable, G_CALLBACK (on_exec_cancelled), data, NULL);
  data->sync_stream
      = conmon_watch (task, data->conmon, sync_fd, on_exec_conmon_exited, on_exec_sync_line);
}

/**
 * grove_oci_runtime_exec_sync_finish:
 * @self: a #GroveOciRuntime
 * @result: the #GAsyncResult
 * @error: return location; %G_IO_ERROR_TIMED_OUT when the timeout ran out (the process was
 *   killed)
 *
 * Returns: (transfer full) (nullable): the exit code and output, or %NULL with @error set
 */
GroveExecResult *
grove_oci_runtime_exec_sync_finish (GroveOciRuntime *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- conmon's files ---- */

static int
open_ctl_fifo (const char *bundle, const char *run_dir, char **out_path)
{
  const char *const dirs[] = { bundle, run_dir, NULL };
  int fd = -1;

  /* conmon 2.1.6 makes "ctl" in the bundle; look in the run dir as well for other layouts */
  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_free (*out_path);
      *out_path = g_build_filename (dirs[i], "ctl", NULL);
      fd = open (*out_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
      if (fd >= 0 || errno != ENOENT)
        return fd;
    }
  return fd;
}

/**
 * grove_oci_runtime_reopen_log:
 * @self: a #GroveOciRuntime
 * @bundle: the container's bundle (conmon's control FIFO `ctl` is there)
 * @run_dir: (nullable): the container's run dir, looked at when the bundle has no `ctl`
 * @error: return location
 *
 * Asks the container's conmon to reopen its log file (after rotation moved it away). Does
 * not block: the message is written to conmon's control FIFO, which conmon reads later.
 *
 * Returns: %TRUE when the request was handed over
 */
gboolean
grove_oci_runtime_reopen_log (GroveOciRuntime *self, const char *bundle, const char *run_dir,
                              GError **error)
{
  g_autofree char *path = NULL;
  grove_autofd int fd = -1;
  ssize_t n = 0;

  g_return_val_if_fail (GROVE_IS_OCI_RUNTIME (self), FALSE);
  g_return_val_if_fail (bundle != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  fd = open_ctl_fifo (bundle, run_dir, &path);
  if (fd < 0 && errno == ENOENT)
    return grove_throw (error, GROVE_ERROR_NOT_FOUND, "no conmon control FIFO at %s", path);
  /* ENXIO: a FIFO nobody reads, so its conmon is gone */
  if (fd < 0 && errno == ENXIO)
    return grove_throw (error, GROVE_ERROR_NOT_FOUND,
                        "cannot reopen the log: no conmon is reading %s", path);
  if (fd < 0)
    return grove_throw_errno_code (error, errno, "opening conmon control FIFO %s", path);
  do
    n = write (fd, REOPEN_LOGS_MESSAGE, strlen (REOPEN_LOGS_MESSAGE));
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN)
    return grove_throw (error, GROVE_ERROR_BUSY, "conmon control FIFO %s is full", path);
  if (n < 0)
    return grove_throw_errno_code (error, errno, "writing to conmon control FIFO %s", path);
  return TRUE;
}

/**
 * grove_read_exit_file:
 * @exit_dir: the exit dir given to grove_oci_runtime_create_async()
 * @container_id: the container
 * @out_exited: (out): whether conmon has written the exit code yet
 * @out_exit_code: (out) (optional): the exit code (128 + signal when it was killed), when
 *   *@out_exited
 * @error: return location
 *
 * Reads `<exit_dir>/<container_id>`. A missing file is not an error: the container is still
 * running (or its conmon died without a word).
 *
 * Returns: %TRUE on success, %FALSE with @error set when the file is unreadable or malformed
 */
gboolean
grove_read_exit_file (const char *exit_dir, const char *container_id, gboolean *out_exited,
                      int *out_exit_code, GError **error)
{
  g_autofree char *path = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autofree char *text = NULL;
  gint64 code = 0;

  g_return_val_if_fail (exit_dir != NULL, FALSE);
  g_return_val_if_fail (out_exited != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!container_id_valid (container_id, error))
    return FALSE;
  path = g_build_filename (exit_dir, container_id, NULL);
  *out_exited = FALSE;
  bytes = grove_read_file_at (AT_FDCWD, path, EXIT_FILE_MAX_SIZE, &local_error);
  if (bytes == NULL && g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    return TRUE;
  if (bytes == NULL)
    return g_propagate_error (error, g_steal_pointer (&local_error)), FALSE;
  text = g_strstrip (g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes)));
  /* conmon creates the file before it writes: empty means not yet */
  if (text[0] == '\0')
    return TRUE;
  if (!g_ascii_string_to_signed (text, 10, G_MININT, G_MAXINT, &code, NULL))
    return grove_throw (error, GROVE_ERROR_FAILED, "exit file %s holds no exit code: '%s'", path,
                        text);
  *out_exited = TRUE;
  if (out_exit_code != NULL)
    *out_exit_code = (int)code;
  return TRUE;
}
