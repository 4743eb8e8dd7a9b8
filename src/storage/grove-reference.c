/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveReference"

#include <arpa/inet.h>
#include <string.h>

#include "grove-reference.h"
#include "grove-utils.h"

#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DEFAULT_DOMAIN "index.docker.io"
#define OFFICIAL_REPO_PREFIX "library/"
#define DEFAULT_TAG "latest"
#define DIGEST_ALGORITHM "sha256"
#define NAME_TOTAL_LENGTH_MAX 255
#define TAG_LENGTH_MAX 128
/* longer than any valid reference (name, tag and digest at their limits), so the check is safe */
#define INPUT_LENGTH_MAX 1024
/* keep error messages readable when the input is huge */
#define QUOTE_LENGTH_MAX 256

/* the input escaped for an error message: D-Bus needs UTF-8 and a newline would be confusing */
static char *
quote_input (const char *text)
{
  g_autofree char *prefix = NULL;
  g_autofree char *escaped = NULL;
  gsize len = strlen (text);

  if (len <= QUOTE_LENGTH_MAX)
    return g_strescape (text, NULL);
  prefix = g_strndup (text, QUOTE_LENGTH_MAX);
  escaped = g_strescape (prefix, NULL);
  return g_strconcat (escaped, "...", NULL);
}

/* printable form of one byte for an error message */
static char *
describe_char (char c)
{
  if (g_ascii_isgraph (c))
    return g_strdup_printf ("'%c'", c);
  return g_strdup_printf ("byte 0x%02x", (guchar)c);
}

static gboolean
is_lower_alnum (char c)
{
  return g_ascii_isdigit (c) || (c >= 'a' && c <= 'z');
}

static gboolean
is_word_char (char c)
{
  return g_ascii_isalnum (c) || c == '_';
}

/* a separator between alphanumeric runs is ".", "_", "__" or any number of "-" */
static gboolean
separator_valid (const char *sep, gsize len)
{
  if (len == 1)
    return sep[0] == '.' || sep[0] == '_' || sep[0] == '-';
  if (len == 2 && sep[0] == '_' && sep[1] == '_')
    return TRUE;
  for (gsize i = 0; i < len; i++)
    {
      if (sep[i] != '-')
        return FALSE;
    }
  return TRUE;
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)* */
static gboolean
path_component_valid (const char *component, gsize len)
{
  gsize i = 0;

  if (len == 0 || !is_lower_alnum (component[0]) || !is_lower_alnum (component[len - 1]))
    return FALSE;
  while (i < len)
    {
      gsize sep_start;

      while (i < len && is_lower_alnum (component[i]))
        i++;
      if (i == len)
        return TRUE;
      sep_start = i;
      while (i < len && !is_lower_alnum (component[i]))
        i++;
      if (!separator_valid (component + sep_start, i - sep_start))
        return FALSE;
    }
  return TRUE;
}

static gboolean
validate_path (const char *quoted, const char *path, GError **error)
{
  g_auto (GStrv) components = NULL;

  if (*path == '\0')
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "Invalid image reference \"%s\": repository path is empty", quoted);
  for (const char *p = path; *p != '\0'; p++)
    {
      if (g_ascii_isupper (*p))
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "Invalid image reference \"%s\": repository name must be lowercase",
                            quoted);
    }
  components = g_strsplit (path, "/", -1);
  for (guint i = 0; components[i] != NULL; i++)
    {
      g_autofree char *component = g_strescape (components[i], NULL);

      if (components[i][0] == '\0')
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "Invalid image reference \"%s\": empty path component "
                            "(leading, trailing or doubled '/')",
                            quoted);
      if (!path_component_valid (components[i], strlen (components[i])))
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "Invalid image reference \"%s\": invalid path component \"%s\": "
                            "components are lowercase letters and digits, separated by '.', "
                            "'_', '__' or dashes",
                            quoted, component);
    }
  return TRUE;
}

/* domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static gboolean
hostname_valid (const char *host, gsize len)
{
  gsize label_start = 0;

  for (gsize i = 0; i <= len; i++)
    {
      if (i < len && host[i] != '.')
        {
          if (!g_ascii_isalnum (host[i]) && host[i] != '-')
            return FALSE;
          continue;
        }
      if (i == label_start || host[label_start] == '-' || host[i - 1] == '-')
        return FALSE;
      label_start = i + 1;
    }
  return TRUE;
}

static gboolean
ipv6_valid (const char *address, gsize len)
{
  g_autofree char *copy = g_strndup (address, len);
  struct in6_addr parsed;

  /* hex digits and colons only, like the reference grammar: no zones, no dotted quads */
  if (len == 0 || strspn (copy, "0123456789abcdefABCDEF:") != len)
    return FALSE;
  return inet_pton (AF_INET6, copy, &parsed) == 1;
}

/* host parts are "[ipv6]" or a hostname; returns where the optional ":port" starts */
static gboolean
validate_host (const char *quoted, const char *domain, const char **port_out, GError **error)
{
  const char *end;

  if (domain[0] == '[')
    {
      end = strchr (domain, ']');
      if (end == NULL)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "Invalid image reference \"%s\": IPv6 address in registry is missing "
                            "its closing ']'",
                            quoted);
      if (!ipv6_valid (domain + 1, end - domain - 1))
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "Invalid image reference \"%s\": invalid IPv6 address in registry",
                            quoted);
      end++;
      if (*end != '\0' && *end != ':')
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "Invalid image reference \"%s\": unexpected text after IPv6 address "
                            "in registry (only \":port\" may follow)",
                            quoted);
      *port_out = end;
      return TRUE;
    }
  end = domain + strcspn (domain, ":");
  if (!hostname_valid (domain, end - domain))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "Invalid image reference \"%s\": invalid registry host name: labels are "
                        "letters, digits and inner dashes, separated by single dots",
                        quoted);
  *port_out = end;
  return TRUE;
}

static gboolean
validate_domain (const char *quoted, const char *domain, GError **error)
{
  const char *port = NULL;

  if (!validate_host (quoted, domain, &port, error))
    return FALSE;
  if (*port == '\0')
    return TRUE;
  /* skip the ':' */
  port++;
  if (*port == '\0' || strspn (port, "0123456789") != strlen (port))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "Invalid image reference \"%s\": registry port must be a non-empty "
                        "decimal number",
                        quoted);
  return TRUE;
}

/* tag := [\w][\w.-]{0,127} */
static gboolean
validate_tag (const char *quoted, const char *tag, GError **error)
{
  gsize len = strlen (tag);

  if (len == 0)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "Invalid image reference \"%s\": tag is empty", quoted);
  if (len > TAG_LENGTH_MAX)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "Invalid image reference \"%s\": invalid tag: %zu characters, at most %d "
                        "are allowed",
                        quoted, len, TAG_LENGTH_MAX);
  if (!is_word_char (tag[0]))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "Invalid image reference \"%s\": invalid tag: it must start with a "
                        "letter, digit or '_'",
                        quoted);
  for (gsize i = 1; i < len; i++)
    {
      if (!is_word_char (tag[i]) && tag[i] != '.' && tag[i] != '-')
        {
          g_autofree char *what = describe_char (tag[i]);
          return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                              "Invalid image reference \"%s\": invalid tag: %s is not allowed "
                              "(letters, digits, '_', '.' and '-' are)",
                              quoted, what);
        }
    }
  return TRUE;
}

/* algorithm := [a-z0-9]+ ([+._-][a-z0-9]+)* */
static gboolean
digest_algorithm_valid (const char *algorithm, gsize len)
{
  if (len == 0 || !is_lower_alnum (algorithm[0]) || !is_lower_alnum (algorithm[len - 1]))
    return FALSE;
  for (gsize i = 1; i < len; i++)
    {
      gboolean is_separator = strchr ("+._-", algorithm[i]) != NULL;

      if (!is_lower_alnum (algorithm[i]) && !is_separator)
        return FALSE;
      if (is_separator && !is_lower_alnum (algorithm[i - 1]))
        return FALSE;
    }
  return TRUE;
}

static gboolean
validate_digest (const char *quoted, const char *digest, GError **error)
{
  const char *colon = strchr (digest, ':');
  const char *hex;

  if (strchr (digest, '@') != NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "Invalid image reference \"%s\": invalid digest: only one '@' is allowed",
                        quoted);
  if (colon == NULL || !digest_algorithm_valid (digest, colon - digest) || colon[1] == '\0')
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "Invalid image reference \"%s\": invalid digest: expected "
                        "\"algorithm:hex\" after '@'",
                        quoted);
  if (colon - digest != strlen (DIGEST_ALGORITHM)
      || strncmp (digest, DIGEST_ALGORITHM, colon - digest) != 0)
    {
      g_autofree char *algorithm = g_strndup (digest, colon - digest);
      return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                          "Invalid image reference \"%s\": unsupported digest algorithm \"%s\" "
                          "(only %s is supported)",
                          quoted, algorithm, DIGEST_ALGORITHM);
    }
  hex = colon + 1;
  if (strlen (hex) != 64 || strspn (hex, "0123456789abcdef") != 64)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "Invalid image reference \"%s\": invalid digest: %s needs exactly 64 "
                        "lowercase hexadecimal digits",
                        quoted, DIGEST_ALGORITHM);
  return TRUE;
}

static gboolean
is_domain_component (const char *component, gsize len)
{
  return memchr (component, '.', len) != NULL || memchr (component, ':', len) != NULL
         || (len == strlen ("localhost") && strncmp (component, "localhost", len) == 0);
}

/* splits "name" into domain and path, applying the docker.io defaults */
static void
split_name (const char *name, char **domain_out, char **path_out)
{
  const char *slash = strchr (name, '/');
  g_autofree char *domain = NULL;
  g_autofree char *path = NULL;

  if (slash != NULL && is_domain_component (name, slash - name))
    {
      domain = g_strndup (name, slash - name);
      path = g_strdup (slash + 1);
    }
  else
    {
      domain = g_strdup (DEFAULT_DOMAIN);
      path = g_strdup (name);
    }
  if (g_str_equal (domain, LEGACY_DEFAULT_DOMAIN))
    {
      g_free (domain);
      domain = g_strdup (DEFAULT_DOMAIN);
    }
  if (g_str_equal (domain, DEFAULT_DOMAIN) && *path != '\0' && strchr (path, '/') == NULL)
    {
      g_autofree char *short_path = g_steal_pointer (&path);
      path = g_strconcat (OFFICIAL_REPO_PREFIX, short_path, NULL);
    }
  *domain_out = g_steal_pointer (&domain);
  *path_out = g_steal_pointer (&path);
}

static gboolean
is_sha256_hex (const char *text)
{
  return strlen (text) == 64 && strspn (text, "0123456789abcdef") == 64;
}

/* splits off "@digest" and ":tag" in place, leaving the name in @text */
static void
split_tag_and_digest (char *text, char **tag_out, char **digest_out)
{
  char *at = strchr (text, '@');
  char *colon;
  char *slash;

  if (at != NULL)
    {
      *digest_out = g_strdup (at + 1);
      *at = '\0';
    }
  /* a ':' before the last '/' belongs to the registry's port, not to a tag */
  colon = strrchr (text, ':');
  slash = strrchr (text, '/');
  if (colon != NULL && (slash == NULL || colon > slash))
    {
      *tag_out = g_strdup (colon + 1);
      *colon = '\0';
    }
}

static gboolean
check_input (const char *quoted, const char *text, GError **error)
{
  gsize len = strlen (text);

  if (len == 0)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "Invalid image reference: it is empty");
  if (len > INPUT_LENGTH_MAX)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "Invalid image reference \"%s\": %zu bytes is too long", quoted, len);
  /* docker refuses these too: a bare image ID must not be mistaken for a repository name */
  if (is_sha256_hex (text))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "Invalid image reference \"%s\": a 64-character hexadecimal string is an "
                        "image ID, not a repository name",
                        quoted);
  return TRUE;
}

/**
 * grove_reference_parse:
 * @text: an image reference as users type it, e.g. "busybox" or "quay.io/org/app:1.0"
 * @error: return location for a #GError
 *
 * Parses @text following the distribution reference grammar and normalises it: a missing
 * registry becomes "docker.io", "index.docker.io" becomes "docker.io", single-component
 * docker.io paths get "library/" and a reference with neither tag nor digest gets the tag
 * "latest".
 *
 * Returns: (transfer full) (nullable): the parsed reference, or %NULL with
 *   %GROVE_ERROR_INVALID_ARGUMENT set if @text is malformed
 */
GroveReference *
grove_reference_parse (const char *text, GError **error)
{
  g_autofree char *quoted = NULL;
  g_autofree char *name = NULL;
  g_autofree char *tag = NULL;
  g_autofree char *digest = NULL;
  g_autofree char *domain = NULL;
  g_autofree char *path = NULL;
  g_autoptr (GroveReference) ref = NULL;

  g_return_val_if_fail (text != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  quoted = quote_input (text);
  if (!check_input (quoted, text, error))
    return NULL;
  name = g_strdup (text);
  split_tag_and_digest (name, &tag, &digest);
  split_name (name, &domain, &path);
  if (!validate_domain (quoted, domain, error) || !validate_path (quoted, path, error))
    return NULL;
  if (strlen (domain) + 1 + strlen (path) > NAME_TOTAL_LENGTH_MAX)
    {
      g_set_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT,
                   "Invalid image reference \"%s\": repository name \"%s/%s\" is too long "
                   "(%zu characters, at most %d are allowed)",
                   quoted, domain, path, strlen (domain) + 1 + strlen (path),
                   NAME_TOTAL_LENGTH_MAX);
      return NULL;
    }
  if (tag != NULL && !validate_tag (quoted, tag, error))
    return NULL;
  if (digest != NULL && !validate_digest (quoted, digest, error))
    return NULL;
  if (tag == NULL && digest == NULL)
    tag = g_strdup (DEFAULT_TAG);

  ref = g_new0 (GroveReference, 1);
  ref->domain = g_steal_pointer (&domain);
  ref->path = g_steal_pointer (&path);
  ref->tag = g_steal_pointer (&tag);
  ref->digest = g_steal_pointer (&digest);
  return g_steal_pointer (&ref);
}

/**
 * grove_reference_parse_for_pull:
 * @text: an image reference as users type it
 * @default_registry: (nullable): the registry short names are pulled from
 * @error: return location for a #GError
 *
 * Like grove_reference_parse(), but a short name (one that names no registry, e.g.
 * "busybox" or "team/app") goes to @default_registry only, never to a guessed one; with
 * no @default_registry it is an error. Short names on docker.io get "library/".
 *
 * Returns: (transfer full) (nullable): the reference, or %NULL with
 *   %GROVE_ERROR_INVALID_ARGUMENT set
 */
GroveReference *
grove_reference_parse_for_pull (const char *text, const char *default_registry, GError **error)
{
  const char *slash = NULL;
  g_autofree char *full = NULL;
  g_autofree char *quoted = NULL;

  g_return_val_if_fail (text != NULL, NULL);
  slash = strchr (text, '/');
  if (slash != NULL && is_domain_component (text, slash - text))
    return grove_reference_parse (text, error);
  quoted = quote_input (text);
  if (default_registry == NULL || *default_registry == '\0')
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "\"%s\" names no registry and no default registry is configured "
                        "([registries] default_registry): write the registry in the name",
                        quoted),
           NULL;
  full = g_strconcat (default_registry, "/", text, NULL);
  return grove_reference_parse (full, error);
}

/**
 * grove_reference_free:
 * @ref: (nullable) (transfer full): a #GroveReference
 *
 * Frees @ref and its strings.
 */
void
grove_reference_free (GroveReference *ref)
{
  if (ref == NULL)
    return;
  g_free (ref->domain);
  g_free (ref->path);
  g_free (ref->tag);
  g_free (ref->digest);
  g_free (ref);
}

/**
 * grove_reference_to_string:
 * @ref: a #GroveReference
 *
 * Formats @ref as "domain/path[:tag][@digest]".
 *
 * Returns: (transfer full): the normalised reference
 */
char *
grove_reference_to_string (const GroveReference *ref)
{
  GString *result = NULL;

  g_return_val_if_fail (ref != NULL, NULL);
  g_return_val_if_fail (ref->domain != NULL && ref->path != NULL, NULL);

  result = g_string_new (ref->domain);
  g_string_append_c (result, '/');
  g_string_append (result, ref->path);
  if (ref->tag != NULL)
    g_string_append_printf (result, ":%s", ref->tag);
  if (ref->digest != NULL)
    g_string_append_printf (result, "@%s", ref->digest);
  return g_string_free (result, FALSE);
}

/**
 * grove_reference_get_repository:
 * @ref: a #GroveReference
 *
 * Returns: (transfer full): the repository, "domain/path", without tag or digest
 */
char *
grove_reference_get_repository (const GroveReference *ref)
{
  g_return_val_if_fail (ref != NULL, NULL);
  g_return_val_if_fail (ref->domain != NULL && ref->path != NULL, NULL);

  return g_strconcat (ref->domain, "/", ref->path, NULL);
}

/**
 * grove_reference_normalize:
 * @text: an image reference as users type it
 * @error: return location for a #GError
 *
 * Parses @text and formats it in full, e.g. "busybox" becomes
 * "docker.io/library/busybox:latest".
 *
 * Returns: (transfer full) (nullable): the normalised reference, or %NULL with
 *   %GROVE_ERROR_INVALID_ARGUMENT set if @text is malformed
 */
char *
grove_reference_normalize (const char *text, GError **error)
{
  g_autoptr (GroveReference) ref = NULL;

  g_return_val_if_fail (text != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  ref = grove_reference_parse (text, error);
  if (ref == NULL)
    return NULL;
  return grove_reference_to_string (ref);
}

/* the short form with docker.io and library/ stripped, which may not parse back to @ref */
static char *
familiar_candidate (const GroveReference *ref)
{
  const char *path = ref->path;
  GString *result = NULL;

  if (!g_str_equal (ref->domain, DEFAULT_DOMAIN))
    return grove_reference_to_string (ref);
  /* "library/a/b" must keep its prefix: "a/b" would name docker.io/a/b */
  if (g_str_has_prefix (path, OFFICIAL_REPO_PREFIX)
      && strchr (path + strlen (OFFICIAL_REPO_PREFIX), '/') == NULL)
    path += strlen (OFFICIAL_REPO_PREFIX);

  result = g_string_new (path);
  if (ref->tag != NULL)
    g_string_append_printf (result, ":%s", ref->tag);
  if (ref->digest != NULL)
    g_string_append_printf (result, "@%s", ref->digest);
  return g_string_free (result, FALSE);
}

/**
 * grove_reference_familiar:
 * @normalized: a normalised reference, as grove_reference_normalize() returns
 *
 * Shortens @normalized to the form people type: "docker.io/library/busybox:latest" becomes
 * "busybox:latest" and "docker.io/foo/bar:1" becomes "foo/bar:1". Where the short form would
 * mean something else when parsed again (e.g. "docker.io/localhost/app", whose short form
 * names a registry), the full form is kept. Input that does not parse is returned unchanged.
 *
 * Returns: (transfer full): the familiar form, newly allocated
 */
char *
grove_reference_familiar (const char *normalized)
{
  g_autoptr (GroveReference) ref = NULL;
  g_autofree char *full = NULL;
  g_autofree char *candidate = NULL;
  g_autofree char *reparsed = NULL;

  g_return_val_if_fail (normalized != NULL, NULL);

  ref = grove_reference_parse (normalized, NULL);
  if (ref == NULL)
    return g_strdup (normalized);
  full = grove_reference_to_string (ref);
  candidate = familiar_candidate (ref);
  /* only shorten when the short form parses back to the same reference */
  reparsed = grove_reference_normalize (candidate, NULL);
  if (reparsed == NULL || !g_str_equal (reparsed, full))
    return g_steal_pointer (&full);
  return g_steal_pointer (&candidate);
}

/* bytes kept as they are in a ref component; all others are escaped as "_xx" */
static gboolean
ref_char_is_literal (char c, gboolean first)
{
  if (c == '.' || c == '-')
    return !first;
  return g_ascii_isalnum (c);
}

/**
 * grove_reference_to_ref_component:
 * @normalized: a non-empty normalised reference
 *
 * Encodes @normalized as a single ostree ref path component, which must match
 * `[\w\d][-._\w\d]*`. Letters, digits, '.' and '-' are kept, except a leading '.' or '-';
 * every other byte becomes '_' followed by two lowercase hex digits, so
 * "docker.io/library/busybox:1.36" becomes "docker.io_2flibrary_2fbusybox_3a1.36".
 * grove_reference_from_ref_component() reverses it.
 *
 * Returns: (transfer full): the encoded component
 */
char *
grove_reference_to_ref_component (const char *normalized)
{
  GString *result = NULL;

  g_return_val_if_fail (normalized != NULL, NULL);
  g_return_val_if_fail (*normalized != '\0', NULL);

  result = g_string_sized_new (strlen (normalized) * 3);
  for (const char *p = normalized; *p != '\0'; p++)
    {
      if (ref_char_is_literal (*p, p == normalized))
        g_string_append_c (result, *p);
      else
        g_string_append_printf (result, "_%02x", (guchar)*p);
    }
  return g_string_free (result, FALSE);
}

static int
lower_hex_value (char c)
{
  if (g_ascii_isdigit (c))
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* decodes the "_xx" escape at @p (offset @offset) into @out */
static gboolean
decode_escape (const char *quoted, const char *p, gsize offset, char *out, GError **error)
{
  int high = lower_hex_value (p[1]);
  int low = high < 0 ? -1 : lower_hex_value (p[2]);
  char value;

  if (high < 0 || low < 0)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "Invalid ref component \"%s\": '_' at offset %zu is not followed by two "
                        "lowercase hex digits",
                        quoted, offset);
  value = (char)(high * 16 + low);
  if (value == '\0')
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "Invalid ref component \"%s\": escape at offset %zu encodes a NUL byte",
                        quoted, offset);
  /* one spelling per reference, so two components never name the same image */
  if (ref_char_is_literal (value, offset == 0))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "Invalid ref component \"%s\": escape at offset %zu encodes '%c', which "
                        "must appear unescaped",
                        quoted, offset, value);
  *out = value;
  return TRUE;
}

/**
 * grove_reference_from_ref_component:
 * @component: a ref component made by grove_reference_to_ref_component()
 * @error: return location for a #GError
 *
 * Decodes @component back into the reference it encodes. The decoded bytes are not parsed
 * as a reference.
 *
 * Returns: (transfer full) (nullable): the decoded reference, or %NULL with
 *   %GROVE_ERROR_INVALID_ARGUMENT set if @component is not a valid encoding
 */
char *
grove_reference_from_ref_component (const char *component, GError **error)
{
  g_autofree char *quoted = NULL;
  g_autoptr (GString) result = NULL;

  g_return_val_if_fail (component != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  quoted = quote_input (component);
  if (*component == '\0')
    {
      g_set_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT,
                   "Invalid ref component: it is empty");
      return NULL;
    }
  result = g_string_sized_new (strlen (component));
  for (const char *p = component; *p != '\0'; p++)
    {
      gsize offset = p - component;
      char value = *p;

      if (*p == '_')
        {
          if (!decode_escape (quoted, p, offset, &value, error))
            return NULL;
          p += 2;
        }
      else if (!ref_char_is_literal (*p, offset == 0))
        {
          g_autofree char *what = describe_char (*p);
          g_set_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT,
                       "Invalid ref component \"%s\": %s at offset %zu is not allowed there",
                       quoted, what, offset);
          return NULL;
        }
      g_string_append_c (result, value);
    }
  return g_string_free (g_steal_pointer (&result), FALSE);
}
