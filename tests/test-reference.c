/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTestReference"

#include <string.h>

#include "grove-reference.h"
#include "grove-utils.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DIGEST "sha256:" HEX64
#define TAG16 "Ab_9.-xyz0123456"
#define TAG128 TAG16 TAG16 TAG16 TAG16 TAG16 TAG16 TAG16 TAG16
#define OSTREE_REF_COMPONENT "^[\\w\\d][-._\\w\\d]*$"

typedef struct
{
  const char *input;
  const char *normalized;
  const char *familiar;
  const char *domain;
  const char *path;
  const char *tag;
  const char *digest;
} ValidCase;

static const ValidCase valid_cases[] = {
  { "busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io", "library/busybox",
    "latest", NULL },
  { "busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36", "docker.io",
    "library/busybox", "1.36", NULL },
  { "library/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io",
    "library/busybox", "latest", NULL },
  { "docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io",
    "library/busybox", "latest", NULL },
  { "docker.io/library/busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36", "docker.io",
    "library/busybox", "1.36", NULL },
  { "index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest",
    "docker.io", "library/busybox", "latest", NULL },
  { "index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io",
    "library/busybox", "latest", NULL },
  { "index.docker.io/foo/bar:v1", "docker.io/foo/bar:v1", "foo/bar:v1", "docker.io", "foo/bar",
    "v1", NULL },
  { "foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest", "docker.io", "foo/bar", "latest",
    NULL },
  { "localhost/busybox", "localhost/busybox:latest", "localhost/busybox:latest", "localhost",
    "busybox", "latest", NULL },
  { "localhost:5000/busybox:dev", "localhost:5000/busybox:dev", "localhost:5000/busybox:dev",
    "localhost:5000", "busybox", "dev", NULL },
  { "myreg:5000/a/b:1", "myreg:5000/a/b:1", "myreg:5000/a/b:1", "myreg:5000", "a/b", "1", NULL },
  { "quay.io/coreos/etcd:v3.5.0", "quay.io/coreos/etcd:v3.5.0", "quay.io/coreos/etcd:v3.5.0",
    "quay.io", "coreos/etcd", "v3.5.0", NULL },
  { "[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest", "[::1]:5000", "x", "latest",
    NULL },
  { "[fe80::1:abcd]/team/app:2", "[fe80::1:abcd]/team/app:2", "[fe80::1:abcd]/team/app:2",
    "[fe80::1:abcd]", "team/app", "2", NULL },
  { "192.168.1.10:5000/app", "192.168.1.10:5000/app:latest", "192.168.1.10:5000/app:latest",
    "192.168.1.10:5000", "app", "latest", NULL },
  { "busybox@" DIGEST, "docker.io/library/busybox@" DIGEST, "busybox@" DIGEST, "docker.io",
    "library/busybox", NULL, DIGEST },
  { "busybox:1.36@" DIGEST, "docker.io/library/busybox:1.36@" DIGEST, "busybox:1.36@" DIGEST,
    "docker.io", "library/busybox", "1.36", DIGEST },
  { "my-registry.local:443/ns/img@" DIGEST, "my-registry.local:443/ns/img@" DIGEST,
    "my-registry.local:443/ns/img@" DIGEST, "my-registry.local:443", "ns/img", NULL, DIGEST },
  { "ghcr.io/org/team/sub/app:v1.2.3-rc.1", "ghcr.io/org/team/sub/app:v1.2.3-rc.1",
    "ghcr.io/org/team/sub/app:v1.2.3-rc.1", "ghcr.io", "org/team/sub/app", "v1.2.3-rc.1", NULL },
  { "a__b/c_d", "docker.io/a__b/c_d:latest", "a__b/c_d:latest", "docker.io", "a__b/c_d", "latest",
    NULL },
  { "foo-bar---baz/x.y", "docker.io/foo-bar---baz/x.y:latest", "foo-bar---baz/x.y:latest",
    "docker.io", "foo-bar---baz/x.y", "latest", NULL },
  { "example.com/a.b_c__d-e--f/g:latest", "example.com/a.b_c__d-e--f/g:latest",
    "example.com/a.b_c__d-e--f/g:latest", "example.com", "a.b_c__d-e--f/g", "latest", NULL },
  { "busybox:" TAG128, "docker.io/library/busybox:" TAG128, "busybox:" TAG128, "docker.io",
    "library/busybox", TAG128, NULL },
  { "busybox:_private", "docker.io/library/busybox:_private", "busybox:_private", "docker.io",
    "library/busybox", "_private", NULL },
  { "Registry.Example.COM/app", "Registry.Example.COM/app:latest",
    "Registry.Example.COM/app:latest", "Registry.Example.COM", "app", "latest", NULL },
  /* the short forms of these would parse as a different registry or repository */
  { "docker.io/localhost/app", "docker.io/localhost/app:latest", "docker.io/localhost/app:latest",
    "docker.io", "localhost/app", "latest", NULL },
  { "docker.io/foo.bar/baz", "docker.io/foo.bar/baz:latest", "docker.io/foo.bar/baz:latest",
    "docker.io", "foo.bar/baz", "latest", NULL },
  { "docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest", "docker.io",
    "library/a/b", "latest", NULL },
  /* only a bare 64-hex string is refused as an image ID; with a tag it is a name */
  { "docker.io/library/" HEX64, "docker.io/library/" HEX64 ":latest", HEX64 ":latest", "docker.io",
    "library/" HEX64, "latest", NULL },
  /* without a '/' the first component is a path, and ":5000" is a tag */
  { "localhost", "docker.io/library/localhost:latest", "localhost:latest", "docker.io",
    "library/localhost", "latest", NULL },
  { "localhost:5000", "docker.io/library/localhost:5000", "localhost:5000", "docker.io",
    "library/localhost", "5000", NULL },
  { "a/b/c/d/e/f", "docker.io/a/b/c/d/e/f:latest", "a/b/c/d/e/f:latest", "docker.io", "a/b/c/d/e/f",
    "latest", NULL },
  { "0/1:2", "docker.io/0/1:2", "0/1:2", "docker.io", "0/1", "2", NULL },
  { "docker.io", "docker.io/library/docker.io:latest", "docker.io:latest", "docker.io",
    "library/docker.io", "latest", NULL },
};

typedef struct
{
  const char *input;
  int code;
  const char *message;
} InvalidCase;

static const InvalidCase invalid_cases[] = {
  { "", GROVE_ERROR_INVALID_ARGUMENT, "empty" },
  { "Busybox", GROVE_ERROR_INVALID_ARGUMENT, "repository name must be lowercase" },
  { "docker.io/Library/busybox", GROVE_ERROR_INVALID_ARGUMENT,
    "repository name must be lowercase" },
  { "Foo/bar", GROVE_ERROR_INVALID_ARGUMENT, "repository name must be lowercase" },
  { "/busybox", GROVE_ERROR_INVALID_ARGUMENT, "empty path component" },
  { "busybox/", GROVE_ERROR_INVALID_ARGUMENT, "empty path component" },
  /* "foo//bar", with an octal escape so tests/check-style.sh does not see a C++ comment */
  { "foo/\057bar", GROVE_ERROR_INVALID_ARGUMENT, "empty path component" },
  { "docker.io/", GROVE_ERROR_INVALID_ARGUMENT, "repository path is empty" },
  { "localhost/", GROVE_ERROR_INVALID_ARGUMENT, "repository path is empty" },
  { "busybox:", GROVE_ERROR_INVALID_ARGUMENT, "tag is empty" },
  { "busybox:-tag", GROVE_ERROR_INVALID_ARGUMENT, "invalid tag: it must start" },
  { "busybox:.tag", GROVE_ERROR_INVALID_ARGUMENT, "invalid tag: it must start" },
  { "busybox:a+b", GROVE_ERROR_INVALID_ARGUMENT, "invalid tag: '+' is not allowed" },
  { "busybox:" TAG128 "x", GROVE_ERROR_INVALID_ARGUMENT, "129 characters, at most 128" },
  { "busybox@", GROVE_ERROR_INVALID_ARGUMENT, "invalid digest" },
  { "busybox@sha256", GROVE_ERROR_INVALID_ARGUMENT, "invalid digest" },
  { "busybox@sha256:", GROVE_ERROR_INVALID_ARGUMENT, "invalid digest" },
  { "busybox@:" HEX64, GROVE_ERROR_INVALID_ARGUMENT, "invalid digest" },
  { "busybox@sha256:abc", GROVE_ERROR_INVALID_ARGUMENT, "64 lowercase hexadecimal" },
  { "busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
    GROVE_ERROR_INVALID_ARGUMENT, "64 lowercase hexadecimal" },
  { "busybox@" DIGEST "0", GROVE_ERROR_INVALID_ARGUMENT, "64 lowercase hexadecimal" },
  { "busybox@sha512:" HEX64 HEX64, GROVE_ERROR_INVALID_ARGUMENT,
    "unsupported digest algorithm \"sha512\"" },
  { "busybox@md5:d41d8cd98f00b204e9800998ecf8427e", GROVE_ERROR_INVALID_ARGUMENT,
    "unsupported digest algorithm" },
  { "busybox@" DIGEST "@" DIGEST, GROVE_ERROR_INVALID_ARGUMENT, "only one '@' is allowed" },
  { "a..b", GROVE_ERROR_INVALID_ARGUMENT, "invalid path component \"a..b\"" },
  { "a___b", GROVE_ERROR_INVALID_ARGUMENT, "invalid path component" },
  { "a._b", GROVE_ERROR_INVALID_ARGUMENT, "invalid path component" },
  { "a-", GROVE_ERROR_INVALID_ARGUMENT, "invalid path component" },
  { "-a", GROVE_ERROR_INVALID_ARGUMENT, "invalid path component" },
  { "_a", GROVE_ERROR_INVALID_ARGUMENT, "invalid path component" },
  { "a.-b", GROVE_ERROR_INVALID_ARGUMENT, "invalid path component" },
  { "bu sybox", GROVE_ERROR_INVALID_ARGUMENT, "invalid path component" },
  { "busybox:tag:tag2", GROVE_ERROR_INVALID_ARGUMENT, "invalid path component \"busybox:tag\"" },
  { "busybox\n", GROVE_ERROR_INVALID_ARGUMENT, "\"busybox\\n\"" },
  { "caf\xc3\xa9", GROVE_ERROR_INVALID_ARGUMENT, "invalid path component" },
  { "myreg:/x", GROVE_ERROR_INVALID_ARGUMENT, "port must be a non-empty decimal number" },
  { "myreg:50a0/x", GROVE_ERROR_INVALID_ARGUMENT, "port must be a non-empty decimal number" },
  { "busybox:a/b", GROVE_ERROR_INVALID_ARGUMENT, "port must be a non-empty decimal number" },
  { "my_reg.com/x", GROVE_ERROR_INVALID_ARGUMENT, "invalid registry host name" },
  { "-bad.com/x", GROVE_ERROR_INVALID_ARGUMENT, "invalid registry host name" },
  { "bad-.com/x", GROVE_ERROR_INVALID_ARGUMENT, "invalid registry host name" },
  { "example..com/x", GROVE_ERROR_INVALID_ARGUMENT, "invalid registry host name" },
  { ".example.com/x", GROVE_ERROR_INVALID_ARGUMENT, "invalid registry host name" },
  { ":5000/x", GROVE_ERROR_INVALID_ARGUMENT, "invalid registry host name" },
  { "[::1/x", GROVE_ERROR_INVALID_ARGUMENT, "missing its closing ']'" },
  { "[zz::1]:5000/x", GROVE_ERROR_INVALID_ARGUMENT, "invalid IPv6 address" },
  { "[]:5000/x", GROVE_ERROR_INVALID_ARGUMENT, "invalid IPv6 address" },
  /* without '.', ':' or "localhost" the first component is part of the path */
  { "[]/x", GROVE_ERROR_INVALID_ARGUMENT, "invalid path component \"[]\"" },
  { "[1:2:3]/x", GROVE_ERROR_INVALID_ARGUMENT, "invalid IPv6 address" },
  { "[::1]:/x", GROVE_ERROR_INVALID_ARGUMENT, "port must be a non-empty decimal number" },
  { "[::1]x:5000/x", GROVE_ERROR_INVALID_ARGUMENT, "unexpected text after IPv6 address" },
  { "[::1]:5000", GROVE_ERROR_INVALID_ARGUMENT, "invalid path component" },
  { HEX64, GROVE_ERROR_INVALID_ARGUMENT, "is an image ID" },
};

static void
assert_parses_as (const ValidCase *c)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GroveReference) ref = NULL;
  g_autofree char *normalized = NULL;
  g_autofree char *repository = NULL;
  g_autofree char *expected_repository = NULL;

  ref = grove_reference_parse (c->input, &local_error);
  g_assert_no_error (local_error);
  g_assert_nonnull (ref);
  g_assert_cmpstr (ref->domain, ==, c->domain);
  g_assert_cmpstr (ref->path, ==, c->path);
  g_assert_cmpstr (ref->tag, ==, c->tag);
  g_assert_cmpstr (ref->digest, ==, c->digest);

  normalized = grove_reference_to_string (ref);
  g_assert_cmpstr (normalized, ==, c->normalized);
  repository = grove_reference_get_repository (ref);
  expected_repository = g_strconcat (c->domain, "/", c->path, NULL);
  g_assert_cmpstr (repository, ==, expected_repository);
}

static void
test_reference_valid (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (valid_cases); i++)
    {
      const ValidCase *c = &valid_cases[i];
      g_autoptr (GError) local_error = NULL;
      g_autofree char *normalized = NULL;
      g_autofree char *renormalized = NULL;
      g_autofree char *familiar = NULL;
      g_autofree char *familiar_normalized = NULL;

      g_test_message ("valid case %" G_GSIZE_FORMAT ": %s", i, c->input);
      assert_parses_as (c);

      normalized = grove_reference_normalize (c->input, &local_error);
      g_assert_no_error (local_error);
      g_assert_cmpstr (normalized, ==, c->normalized);

      /* normalising is idempotent */
      renormalized = grove_reference_normalize (normalized, &local_error);
      g_assert_no_error (local_error);
      g_assert_cmpstr (renormalized, ==, normalized);

      familiar = grove_reference_familiar (normalized);
      g_assert_cmpstr (familiar, ==, c->familiar);

      /* the familiar form names the same image */
      familiar_normalized = grove_reference_normalize (familiar, &local_error);
      g_assert_no_error (local_error);
      g_assert_cmpstr (familiar_normalized, ==, normalized);
    }
}

static void
test_reference_invalid (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (invalid_cases); i++)
    {
      const InvalidCase *c = &invalid_cases[i];
      g_autoptr (GError) local_error = NULL;
      g_autoptr (GError) normalize_error = NULL;
      g_autoptr (GroveReference) ref = NULL;
      g_autofree char *normalized = NULL;
      g_autofree char *familiar = NULL;
      g_autofree char *escaped = g_strescape (c->input, NULL);

      g_test_message ("invalid case %" G_GSIZE_FORMAT ": %s", i, escaped);
      ref = grove_reference_parse (c->input, &local_error);
      g_assert_error (local_error, GROVE_ERROR, c->code);
      g_assert_null (ref);
      g_test_message ("error: %s", local_error->message);
      g_assert_nonnull (strstr (local_error->message, c->message));
      g_assert_true (g_utf8_validate (local_error->message, -1, NULL));

      normalized = grove_reference_normalize (c->input, &normalize_error);
      g_assert_error (normalize_error, GROVE_ERROR, c->code);
      g_assert_null (normalized);
      g_assert_cmpstr (normalize_error->message, ==, local_error->message);

      /* input that does not parse comes back unchanged */
      familiar = grove_reference_familiar (c->input);
      g_assert_cmpstr (familiar, ==, c->input);
    }
}

static void
test_reference_error_quotes_input (void)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GroveReference) ref = NULL;

  ref = grove_reference_parse ("quay.io/Org/app:1", &local_error);
  g_assert_error (local_error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (local_error->message, ==,
                   "Invalid image reference \"quay.io/Org/app:1\": repository name must be "
                   "lowercase");
}

static void
test_reference_name_length (void)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GroveReference) ref = NULL;
  g_autoptr (GroveReference) too_long_ref = NULL;
  /* "example.com/" is 12 characters, so 243 more make the 255 allowed */
  g_autofree char *path = g_strnfill (243, 'a');
  g_autofree char *longest = g_strconcat ("example.com/", path, NULL);
  g_autofree char *too_long = g_strconcat ("example.com/", path, "b", NULL);
  g_autofree char *short_path = g_strnfill (236, 'a');
  /* short here, but "docker.io/library/" makes the name 256 characters */
  g_autofree char *too_long_normalized = g_strconcat (short_path, "bc", NULL);
  g_autofree char *huge = g_strnfill (100000, 'a');

  ref = grove_reference_parse (longest, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstr (ref->path, ==, path);

  too_long_ref = grove_reference_parse (too_long, &local_error);
  g_assert_error (local_error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_assert_null (too_long_ref);
  g_assert_nonnull (strstr (local_error->message, "256 characters, at most 255"));
  g_clear_error (&local_error);

  g_assert_null (grove_reference_parse (too_long_normalized, &local_error));
  g_assert_error (local_error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (local_error->message, "256 characters, at most 255"));
  g_clear_error (&local_error);

  /* huge input is refused without quoting all of it */
  g_assert_null (grove_reference_parse (huge, &local_error));
  g_assert_error (local_error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (local_error->message, "100000 bytes is too long"));
  g_assert_cmpuint (strlen (local_error->message), <, 1024);
}

static void
test_reference_familiar_passthrough (void)
{
  g_autofree char *already_short = grove_reference_familiar ("busybox");
  g_autofree char *garbage = grove_reference_familiar ("not a reference");

  g_assert_cmpstr (already_short, ==, "busybox:latest");
  g_assert_cmpstr (garbage, ==, "not a reference");
}

static void
assert_component_round_trips (GRegex *regex, const char *text)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree char *component = grove_reference_to_ref_component (text);
  g_autofree char *decoded = NULL;

  g_assert_nonnull (component);
  if (!g_regex_match (regex, component, 0, NULL))
    g_test_message ("component does not match the ostree ref regex: %s", component);
  g_assert_true (g_regex_match (regex, component, 0, NULL));
  g_assert_null (strchr (component, '/'));
  g_assert_null (strchr (component, ':'));
  g_assert_null (strchr (component, '@'));

  decoded = grove_reference_from_ref_component (component, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstr (decoded, ==, text);
}

static GRegex *
new_ref_component_regex (void)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GRegex) regex = g_regex_new (OSTREE_REF_COMPONENT, G_REGEX_OPTIMIZE, 0, &local_error);

  g_assert_no_error (local_error);
  return g_steal_pointer (&regex);
}

static void
test_reference_component_example (void)
{
  g_autofree char *component = grove_reference_to_ref_component ("docker.io/library/busybox:1.36");
  g_autofree char *leading_dot = grove_reference_to_ref_component (".a-b_c");
  g_autofree char *leading_dash = grove_reference_to_ref_component ("-");

  g_assert_cmpstr (component, ==, "docker.io_2flibrary_2fbusybox_3a1.36");
  g_assert_cmpstr (leading_dot, ==, "_2ea-b_5fc");
  g_assert_cmpstr (leading_dash, ==, "_2d");
}

static void
test_reference_component_valid_cases (void)
{
  g_autoptr (GRegex) regex = new_ref_component_regex ();

  for (gsize i = 0; i < G_N_ELEMENTS (valid_cases); i++)
    assert_component_round_trips (regex, valid_cases[i].normalized);
}

static void
test_reference_component_bytes (void)
{
  g_autoptr (GRegex) regex = new_ref_component_regex ();
  g_autoptr (GString) every_byte = g_string_new (NULL);
  static const char *const fixed[] = { ".",    "-",   "_", "..",   ".hidden", "-x",      "x.", "x-",
                                       "a_5f", "_2e", "%", "\xff", "\x01",    "a/b:c@d", " " };

  for (guint b = 1; b < 256; b++)
    g_string_append_c (every_byte, (char)b);
  assert_component_round_trips (regex, every_byte->str);
  for (gsize i = 0; i < G_N_ELEMENTS (fixed); i++)
    assert_component_round_trips (regex, fixed[i]);

  for (guint round = 0; round < 2000; round++)
    {
      gsize len = g_test_rand_int_range (1, 64);
      g_autofree char *text = g_malloc0 (len + 1);

      for (gsize i = 0; i < len; i++)
        text[i] = (char)g_test_rand_int_range (1, 256);
      assert_component_round_trips (regex, text);
    }
}

static void
test_reference_component_invalid (void)
{
  static const struct
  {
    const char *component;
    const char *message;
  } cases[] = {
    { "", "empty" },
    { "_", "not followed by two lowercase hex digits" },
    { "a_4", "offset 1 is not followed by two lowercase hex digits" },
    { "_4g", "not followed by two lowercase hex digits" },
    { "_2F", "not followed by two lowercase hex digits" },
    { "_g0", "not followed by two lowercase hex digits" },
    { "_00", "NUL byte" },
    { "_41", "'A', which must appear unescaped" },
    { "a_2e", "'.', which must appear unescaped" },
    { ".abc", "'.' at offset 0 is not allowed" },
    { "-abc", "'-' at offset 0 is not allowed" },
    { "a/b", "'/' at offset 1 is not allowed" },
    { "a:b", "':' at offset 1 is not allowed" },
    { "a@b", "'@' at offset 1 is not allowed" },
    { "a b", "byte 0x20 at offset 1 is not allowed" },
    { "a\xff", "byte 0xff at offset 1 is not allowed" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) local_error = NULL;
      g_autofree char *decoded = NULL;

      decoded = grove_reference_from_ref_component (cases[i].component, &local_error);
      g_assert_error (local_error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
      g_assert_null (decoded);
      g_test_message ("error: %s", local_error->message);
      g_assert_nonnull (strstr (local_error->message, cases[i].message));
      g_assert_true (g_utf8_validate (local_error->message, -1, NULL));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/grove/reference/valid", test_reference_valid);
  g_test_add_func ("/grove/reference/invalid", test_reference_invalid);
  g_test_add_func ("/grove/reference/error-quotes-input", test_reference_error_quotes_input);
  g_test_add_func ("/grove/reference/name-length", test_reference_name_length);
  g_test_add_func ("/grove/reference/familiar-passthrough", test_reference_familiar_passthrough);
  g_test_add_func ("/grove/reference/component-example", test_reference_component_example);
  g_test_add_func ("/grove/reference/component-valid-cases", test_reference_component_valid_cases);
  g_test_add_func ("/grove/reference/component-bytes", test_reference_component_bytes);
  g_test_add_func ("/grove/reference/component-invalid", test_reference_component_invalid);

  return g_test_run ();
}
