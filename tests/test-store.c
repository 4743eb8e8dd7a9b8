/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTestStore"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "grove-store.h"
#include "grove-test-utils.h"
#include "grove-utils.h"

typedef struct
{
  char *tmpdir;
  char *root;
  GroveStore *store;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  if (!grove_test_is_root ())
    {
      g_test_skip ("needs root (mounts, chown, mknod)");
      return;
    }
  fx->tmpdir = grove_test_make_tmpdir ();
  fx->root = g_build_filename (fx->tmpdir, "store", NULL);
  fx->store = grove_store_open (fx->root, NULL, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) ids = NULL;

  if (fx->store != NULL)
    {
      /* release every rootfs a test left prepared, so no mount outlives the test */
      ids = grove_store_list_rootfs (fx->store, &error);
      g_assert_no_error (error);
      for (guint i = 0; ids[i] != NULL; i++)
        {
          grove_store_release_rootfs (fx->store, ids[i], NULL, &error);
          g_assert_no_error (error);
        }
    }
  g_clear_object (&fx->store);
  if (fx->tmpdir != NULL)
    grove_test_rm_rf (fx->tmpdir);
  g_clear_pointer (&fx->tmpdir, g_free);
  g_clear_pointer (&fx->root, g_free);
}

static char *
fx_path (Fixture *fx, const char *name)
{
  return g_build_filename (fx->tmpdir, name, NULL);
}

static GroveImage *
import_one (Fixture *fx, const char *path, const char *tag)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) images = grove_store_import_image (fx->store, path, GROVE_IMAGE_FORMAT_AUTO,
                                                           tag, NULL, NULL, NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (images->len, ==, 1);
  return g_object_ref (images->pdata[0]);
}

static char *
ostree_fsck (Fixture *fx)
{
  g_autofree char *repo = g_strdup_printf ("--repo=%s", grove_store_get_repo_path (fx->store));
  g_autofree char *out = NULL;
  int status = grove_test_run (&out, "ostree", "fsck", repo, NULL);

  g_assert_cmpint (status, ==, 0);
  return g_steal_pointer (&out);
}

static void
assert_file_contents (const char *dir, const char *name, const char *expected)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (contents, ==, expected);
}

static void
assert_absent (const char *path)
{
  struct stat st;
  g_assert_cmpint (lstat (path, &st), ==, -1);
  g_assert_cmpint (errno, ==, ENOENT);
}

/* every one-layer busybox flavour imports to the same tree, hardlinks intact */
static void
check_busybox (Fixture *fx, GroveImage *image, const char *expected_name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *sh = NULL;
  g_autofree char *busybox = NULL;
  struct stat st_sh, st_busybox;

  g_assert_true (g_strv_contains (grove_image_get_names (image), expected_name));
  g_assert_cmpuint (g_strv_length ((char **)grove_image_get_layers (image)), ==, 1);
  g_assert_true (g_str_has_prefix (grove_image_get_manifest_digest (image), "sha256:"));
  g_assert_cmpuint (grove_image_get_size (image), >, 500 * 1024);

  rootfs = grove_store_prepare_rootfs (fx->store, "c1", grove_image_get_id (image), NULL, &error);
  g_assert_no_error (error);
  sh = g_build_filename (rootfs, "bin", "sh", NULL);
  busybox = g_build_filename (rootfs, "bin", "busybox", NULL);
  g_assert_cmpint (lstat (sh, &st_sh), ==, 0);
  g_assert_cmpint (lstat (busybox, &st_busybox), ==, 0);
  /* the applets are hardlinks of one binary, so the overlay shows one inode */
  g_assert_cmpuint (st_sh.st_ino, ==, st_busybox.st_ino);
  g_assert_cmpuint (st_busybox.st_mode & 07777, ==, 0755);
  assert_file_contents (rootfs, "etc/group",
                        "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nextra:x:2000:app\n");
  grove_store_release_rootfs (fx->store, "c1", NULL, &error);
  g_assert_no_error (error);
}

typedef struct
{
  const char *format;
  const char *compression;
  gboolean docker_blobs;
} Flavour;

static void
test_import_formats (Fixture *fx, gconstpointer data)
{
  static const Flavour flavours[] = {
    { "oci-dir", "none", FALSE },        { "oci-dir", "gzip", FALSE },
    { "oci-dir", "zstd", FALSE },        { "oci-archive", "gzip", FALSE },
    { "docker-archive", "none", FALSE }, { "docker-archive", "none", TRUE },
  };
  g_autofree char *first_id = NULL;

  if (fx->store == NULL)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (flavours); i++)
    {
      g_autofree char *name = g_strdup_printf ("img-%u", i);
      g_autofree char *path = fx_path (fx, name);
      g_autofree char *tag = g_strdup_printf ("localhost/flavour%u:v1", i);
      g_autoptr (GroveImage) image = NULL;

      g_test_message ("format %s, compression %s", flavours[i].format, flavours[i].compression);
      if (flavours[i].docker_blobs)
        grove_test_mkimage ("busybox", "--format", flavours[i].format, "--compression",
                            flavours[i].compression, "--tag", tag, "--docker-blobs", path, NULL);
      else
        grove_test_mkimage ("busybox", "--format", flavours[i].format, "--compression",
                            flavours[i].compression, "--tag", tag, path, NULL);
      image = import_one (fx, path, NULL);
      check_busybox (fx, image, tag);
      /* the config is the same whatever the packaging, so the image ID is too */
      if (first_id == NULL)
        first_id = g_strdup (grove_image_get_id (image));
      g_assert_cmpstr (grove_image_get_id (image), ==, first_id);
    }
  g_free (ostree_fsck (fx));
}

static void
test_import_small (Fixture *fx, gconstpointer data)
{
  g_autofree char *path = NULL;
  g_autofree char *objects = NULL;
  g_autoptr (GroveImage) image = NULL;
  g_autoptr (GPtrArray) images = NULL;
  g_autoptr (GError) error = NULL;
  guint64 used;

  if (fx->store == NULL)
    return;
  path = fx_path (fx, "busybox");
  grove_test_mkimage ("busybox", "--format", "oci-dir", path, NULL);
  image = import_one (fx, path, "busybox");
  g_assert_cmpstr (grove_image_get_names (image)[0], ==, "docker.io/library/busybox:latest");
  /* hardlinks stay links: the whole image costs about one busybox binary */
  objects = g_build_filename (grove_store_get_repo_path (fx->store), "objects", NULL);
  used = grove_test_du (objects);
  g_test_message ("repo objects after importing busybox: %" G_GUINT64_FORMAT " bytes", used);
  g_assert_cmpuint (used, <, 3 * 1024 * 1024);
  images = grove_store_list_images (fx->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (images->len, ==, 1);
}

static void
assert_trees_identical (const char *ours, const char *theirs)
{
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "treediff.py", NULL);
  const char *python = g_getenv ("GROVE_PYTHON");
  g_autofree char *out = NULL;
  int status = grove_test_run (&out, python ? python : "python3", script, "--ignore", ".", ours,
                               theirs, NULL);

  g_test_message ("treediff: %s", out);
  g_assert_cmpint (status, ==, 0);
}

/* the composed tree of a three-layer image is exactly what umoci unpacks */
static void
test_multilayer_umoci (Fixture *fx, gconstpointer data)
{
  g_autofree char *path = NULL;
  g_autofree char *bundle = NULL;
  g_autofree char *umoci_rootfs = NULL;
  g_autofree char *image_arg = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *checkout = NULL;
  g_autoptr (GroveImage) image = NULL;
  g_autoptr (GError) error = NULL;
  struct stat st;

  if (fx->store == NULL)
    return;
  path = fx_path (fx, "multilayer");
  bundle = fx_path (fx, "bundle");
  grove_test_mkimage ("multilayer", "--format", "oci-dir", "--compression", "gzip", "--tag",
                      "localhost/multi:1", path, NULL);
  image_arg = g_strdup_printf ("%s:localhost/multi:1", path);
  g_assert_cmpint (grove_test_run (NULL, "umoci", "unpack", "--image", image_arg, bundle, NULL), ==,
                   0);
  umoci_rootfs = g_build_filename (bundle, "rootfs", NULL);
  image = import_one (fx, path, NULL);
  g_assert_cmpuint (g_strv_length ((char **)grove_image_get_layers (image)), ==, 3);
  rootfs = grove_store_prepare_rootfs (fx->store, "multi", "localhost/multi:1", NULL, &error);
  g_assert_no_error (error);
  assert_trees_identical (rootfs, umoci_rootfs);
  checkout = g_build_filename (fx->root, "checkouts", grove_image_get_id (image), NULL);
  assert_trees_identical (checkout, umoci_rootfs);

  /* the details the comparison covers, spelled out */
  assert_file_contents (rootfs, "a/keep", "keep: version 2 (modified in layer 2)\n");
  assert_file_contents (rootfs, "hl2", "hardlinked content, version 1\n");
  g_assert_cmpint (lstat (g_build_filename (rootfs, "dev", "null", NULL), &st), ==, 0);
  g_assert_true (S_ISCHR (st.st_mode));
  g_assert_cmpuint (st.st_rdev, ==, makedev (1, 3));
  g_autofree char *xattr_file = g_build_filename (rootfs, "xattr-file", NULL);
  char value[64] = { 0 };
  g_assert_cmpint (lgetxattr (xattr_file, "user.grove.test", value, sizeof value), ==, 5);
  g_assert_cmpstr (value, ==, "hello");
  g_assert_cmpint (lgetxattr (xattr_file, "trusted.overlay.opaque", value, sizeof value), ==, -1);

  grove_test_rm_rf (bundle);
  g_free (ostree_fsck (fx));
}

/* what a hostile layer may do: fail with this code, or import with these checks */
typedef struct
{
  const char *name;
  int code; /* -1: imports */
  const char *message;
} HostileCase;

static guint64
count_refs (Fixture *fx, const char *prefix)
{
  g_autofree char *dir
      = g_build_filename (grove_store_get_repo_path (fx->store), "refs", "heads", prefix, NULL);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  while (d != NULL && g_dir_read_name (d) != NULL)
    n++;
  return n;
}

static void
check_hostile_imported (Fixture *fx, const char *name, GroveImage *image)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *rootfs
      = grove_store_prepare_rootfs (fx->store, "hostile", grove_image_get_id (image), NULL, &error);
  struct stat st;

  g_assert_no_error (error);
  if (g_str_equal (name, "absolute"))
    assert_file_contents (rootfs, "tmp/grove-escape-absolute", "absolute path entry\n");
  if (g_str_equal (name, "setid-device"))
    {
      g_autofree char *dev = g_build_filename (rootfs, "dev", "evil", NULL);
      g_assert_cmpint (lstat (dev, &st), ==, 0);
      g_assert_true (S_ISCHR (st.st_mode));
      g_assert_cmpuint (st.st_mode & 07777, ==, 0755);
    }
  grove_store_release_rootfs (fx->store, "hostile", NULL, &error);
  g_assert_no_error (error);
  grove_store_remove_image (fx->store, grove_image_get_id (image), NULL, &error);
  g_assert_no_error (error);
}

static void
test_hostile (Fixture *fx, gconstpointer data)
{
  static const HostileCase cases[] = {
    { "dotdot", GROVE_ERROR_INVALID_IMAGE, "'..'" },
    { "absolute", -1, NULL },
    { "symlink-dir-write", GROVE_ERROR_INVALID_IMAGE, "goes through 'escape'" },
    { "symlink-relative-write", GROVE_ERROR_INVALID_IMAGE, "goes through 'escape2'" },
    { "hardlink-escape", GROVE_ERROR_INVALID_IMAGE, "'..'" },
    { "hardlink-missing", GROVE_ERROR_INVALID_IMAGE, "not a file of this layer" },
    { "setid-device", -1, NULL },
    { "truncated", GROVE_ERROR_INVALID_IMAGE, "big" },
    { "bad-layer-digest", GROVE_ERROR_DIGEST_MISMATCH, "the manifest says" },
    { "bad-diffid", GROVE_ERROR_DIGEST_MISMATCH, "the image config says" },
    { "bad-config-digest", GROVE_ERROR_DIGEST_MISMATCH, "config" },
    { "bad-size", GROVE_ERROR_DIGEST_MISMATCH, "bytes" },
  };
  g_autofree char *objects = NULL;
  guint objects_before;

  if (fx->store == NULL)
    return;
  objects = g_build_filename (grove_store_get_repo_path (fx->store), "objects", NULL);
  objects_before = grove_test_count_files (objects);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = fx_path (fx, cases[i].name);
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) images = NULL;

      g_test_message ("hostile case %s", cases[i].name);
      grove_test_mkimage ("hostile", "--case", cases[i].name, "--format", "oci-dir", path, NULL);
      images = grove_store_import_image (fx->store, path, GROVE_IMAGE_FORMAT_AUTO, NULL, NULL, NULL,
                                         NULL, &error);
      if (cases[i].code < 0)
        {
          g_assert_no_error (error);
          check_hostile_imported (fx, cases[i].name, images->pdata[0]);
        }
      else
        {
          g_test_message ("error: %s", error ? error->message : "(none)");
          g_assert_error (error, GROVE_ERROR, cases[i].code);
          g_assert_nonnull (strstr (error->message, cases[i].message));
        }
      /* nothing is left behind, and nothing landed outside the store */
      g_assert_cmpuint (count_refs (fx, "grove/images"), ==, 0);
      g_assert_cmpuint (count_refs (fx, "grove/layers"), ==, 0);
      g_assert_cmpuint (grove_test_count_files (objects), ==, objects_before);
      assert_absent ("/tmp/grove-escape-dotdot");
      assert_absent ("/tmp/grove-escape-absolute");
      assert_absent ("/tmp/grove-escape-symlink");
      assert_absent ("/tmp/grove-escape-rel");
      grove_test_rm_rf (path);
    }
  g_free (ostree_fsck (fx));
}

/* two images that share all but a few small files: the repo grows by those only */
static void
test_dedup (Fixture *fx, gconstpointer data)
{
  g_autofree char *base = NULL;
  g_autofree char *variant = NULL;
  g_autofree char *objects = NULL;
  g_autoptr (GroveImage) image1 = NULL;
  g_autoptr (GroveImage) image2 = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *rootfs2 = NULL;
  g_autofree char *checkout_busybox = NULL;
  g_autofree char *checkout2_busybox = NULL;
  guint64 after_first, after_second;
  struct stat st, st2;

  if (fx->store == NULL)
    return;
  base = fx_path (fx, "base");
  variant = fx_path (fx, "variant");
  grove_test_mkimage ("busybox", "--format", "oci-dir", "--compression", "gzip", base, NULL);
  grove_test_mkimage ("busybox", "--format", "docker-archive", "--extra", "etc/motd=hello",
                      "--extra", "etc/variant=2", variant, NULL);
  objects = g_build_filename (grove_store_get_repo_path (fx->store), "objects", NULL);
  image1 = import_one (fx, base, "localhost/base:1");
  after_first = grove_test_du (objects);
  rootfs = grove_store_prepare_rootfs (fx->store, "first", "localhost/base:1", NULL, &error);
  g_assert_no_error (error);
  image2 = import_one (fx, variant, "localhost/variant:1");
  after_second = grove_test_du (objects);
  /* the second import must not replace the shared busybox object (it is larger than the
   * inline-write limit): both checkouts link to the one object */
  rootfs2 = grove_store_prepare_rootfs (fx->store, "second", "localhost/variant:1", NULL, &error);
  g_assert_no_error (error);
  checkout_busybox = g_build_filename (fx->root, "checkouts", grove_image_get_id (image1), "bin",
                                       "busybox", NULL);
  checkout2_busybox = g_build_filename (fx->root, "checkouts", grove_image_get_id (image2), "bin",
                                        "busybox", NULL);
  g_assert_cmpint (lstat (checkout_busybox, &st), ==, 0);
  g_assert_cmpint (lstat (checkout2_busybox, &st2), ==, 0);
  g_assert_cmpuint (st.st_ino, ==, st2.st_ino);
  g_test_message ("objects: %" G_GUINT64_FORMAT " after the first image, %" G_GUINT64_FORMAT
                  " after the second",
                  after_first, after_second);
  g_assert_cmpstr (grove_image_get_id (image1), !=, grove_image_get_id (image2));
  /* the second image adds two files, a layer commit, an image commit and some dirtrees */
  g_assert_cmpuint (after_second - after_first, <, 128 * 1024);
  g_assert_cmpuint (after_first, >, 1024 * 1024);
}

static void
test_remove (Fixture *fx, gconstpointer data)
{
  g_autofree char *path1 = NULL;
  g_autofree char *path2 = NULL;
  g_autofree char *objects = NULL;
  g_autofree char *checkout = NULL;
  g_autofree char *rootfs = NULL;
  g_autoptr (GroveImage) image1 = NULL;
  g_autoptr (GroveImage) image2 = NULL;
  g_autoptr (GError) error = NULL;
  guint64 with_both, with_one;

  if (fx->store == NULL)
    return;
  path1 = fx_path (fx, "one");
  path2 = fx_path (fx, "two");
  grove_test_mkimage ("busybox", "--format", "oci-dir", path1, NULL);
  grove_test_mkimage ("multilayer", "--format", "oci-archive", "--compression", "zstd", path2,
                      NULL);
  objects = g_build_filename (grove_store_get_repo_path (fx->store), "objects", NULL);
  image1 = import_one (fx, path1, "localhost/one:1");
  image2 = import_one (fx, path2, "localhost/two:1");
  with_both = grove_test_du (objects);

  /* in use by a container: refused, and nothing changes */
  rootfs = grove_store_prepare_rootfs (fx->store, "user", "localhost/two:1", NULL, &error);
  g_assert_no_error (error);
  g_assert_false (grove_store_remove_image (fx->store, "localhost/two:1", NULL, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_BUSY);
  g_assert_nonnull (strstr (error->message, "in use by container user"));
  g_clear_error (&error);
  g_assert_cmpuint (grove_test_du (objects), ==, with_both);

  g_assert_true (grove_store_release_rootfs (fx->store, "user", NULL, &error));
  g_assert_no_error (error);
  g_assert_true (grove_store_remove_image (fx->store, "localhost/two:1", NULL, &error));
  g_assert_no_error (error);
  checkout = g_build_filename (fx->root, "checkouts", grove_image_get_id (image2), NULL);
  assert_absent (checkout);
  assert_absent (rootfs);
  with_one = grove_test_du (objects);
  g_test_message ("objects: %" G_GUINT64_FORMAT " with both images, %" G_GUINT64_FORMAT
                  " after removing one",
                  with_both, with_one);
  g_assert_cmpuint (with_one, <, with_both);
  g_assert_cmpuint (count_refs (fx, "grove/layers"), ==, 1);

  /* a second removal, or a removal of a name that is gone, is a clear not-found */
  g_assert_false (grove_store_remove_image (fx->store, "localhost/two:1", NULL, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* the last image goes: the repo is back to (almost) nothing */
  g_assert_true (grove_store_remove_image (fx->store, grove_image_get_id (image1), NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_refs (fx, "grove/layers"), ==, 0);
  g_assert_cmpuint (grove_test_count_files (objects), ==, 0);
  g_free (ostree_fsck (fx));
}

static void
test_lookup_and_tags (Fixture *fx, gconstpointer data)
{
  g_autofree char *path = NULL;
  g_autofree char *prefix = NULL;
  g_autofree char *by_digest = NULL;
  g_autoptr (GroveImage) image = NULL;
  g_autoptr (GroveImage) found = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) repo_digests = NULL;
  const char *names[] = { NULL, "sha256:", "docker.io/library/busybox:1.36", "busybox:1.36" };

  if (fx->store == NULL)
    return;
  path = fx_path (fx, "img");
  grove_test_mkimage ("busybox", "--format", "docker-archive", "--tag", "busybox:1.36", path, NULL);
  image = import_one (fx, path, NULL);
  g_assert_cmpstr (grove_image_get_names (image)[0], ==, "docker.io/library/busybox:1.36");
  prefix = g_strndup (grove_image_get_id (image), 12);
  names[0] = prefix;
  by_digest = g_strconcat ("sha256:", grove_image_get_id (image), NULL);
  names[1] = by_digest;
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autoptr (GroveImage) hit = grove_store_lookup_image (fx->store, names[i], NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (grove_image_get_id (hit), ==, grove_image_get_id (image));
    }
  repo_digests = grove_image_dup_repo_digests (image);
  g_assert_cmpuint (g_strv_length (repo_digests), ==, 1);
  found = grove_store_lookup_image (fx->store, repo_digests[0], NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (grove_image_get_id (found), ==, grove_image_get_id (image));

  /* unknown names and IDs are not found; malformed ones say why */
  g_assert_null (grove_store_lookup_image (fx->store, "busybox:9", NULL, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (grove_store_lookup_image (fx->store, "Not/A/Name", NULL, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "lowercase"));
  g_clear_error (&error);

  /* tag, untag: the image stays while it has none */
  g_assert_true (grove_store_tag_image (fx->store, prefix, "localhost/mine:v2", NULL, &error));
  g_assert_no_error (error);
  g_clear_object (&found);
  found = grove_store_lookup_image (fx->store, "localhost/mine:v2", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length ((char **)grove_image_get_names (found)), ==, 2);
  g_assert_true (grove_store_untag_image (fx->store, "busybox:1.36", NULL, &error));
  g_assert_true (grove_store_untag_image (fx->store, "localhost/mine:v2", NULL, &error));
  g_assert_no_error (error);
  g_assert_false (grove_store_untag_image (fx->store, "localhost/mine:v2", NULL, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (grove_store_tag_image (fx->store, prefix, "bad@name", NULL, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_clear_object (&found);
  found = grove_store_lookup_image (fx->store, prefix, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length ((char **)grove_image_get_names (found)), ==, 0);
}

static void
write_file (const char *dir, const char *name, const char *contents)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

/* containers write to their own upper dir; the image, its checkout and other containers
 * never see it, even for files ostree stores as one object */
static void
test_rootfs_isolation (Fixture *fx, gconstpointer data)
{
  g_autofree char *path = NULL;
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;
  g_autofree char *again = NULL;
  g_autofree char *checkout = NULL;
  g_autoptr (GroveImage) image = NULL;
  g_autoptr (GError) error = NULL;

  if (fx->store == NULL)
    return;
  path = fx_path (fx, "img");
  /* two names with the same content and metadata are one ostree object */
  grove_test_mkimage ("busybox", "--format", "oci-dir", "--extra", "etc/one=same\n", "--extra",
                      "etc/two=same\n", path, NULL);
  image = import_one (fx, path, "localhost/iso:1");
  checkout = g_build_filename (fx->root, "checkouts", grove_image_get_id (image), NULL);
  a = grove_store_prepare_rootfs (fx->store, "ctr-a", "localhost/iso:1", NULL, &error);
  g_assert_no_error (error);
  b = grove_store_prepare_rootfs (fx->store, "ctr-b", grove_image_get_id (image), NULL, &error);
  g_assert_no_error (error);
  again = grove_store_prepare_rootfs (fx->store, "ctr-a", "localhost/iso:1", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (again, ==, a);

  write_file (a, "etc/one", "changed by a\n");
  write_file (a, "etc/hosts", "127.0.0.1 localhost\n");
  assert_file_contents (a, "etc/one", "changed by a\n");
  assert_file_contents (a, "etc/two", "same\n");
  assert_file_contents (b, "etc/one", "same\n");
  assert_file_contents (checkout, "etc/one", "same\n");
  assert_file_contents (checkout, "etc/two", "same\n");
  g_assert_false (g_file_test (g_build_filename (b, "etc", "hosts", NULL), G_FILE_TEST_EXISTS));

  /* a rootfs from another image under the same container ID is refused */
  g_assert_null (grove_store_prepare_rootfs (fx->store, "ctr-a", "localhost/nope:1", NULL, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (
      grove_store_prepare_rootfs (fx->store, "../evil", "localhost/iso:1", NULL, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* release is idempotent */
  for (guint i = 0; i < 2; i++)
    {
      g_assert_true (grove_store_release_rootfs (fx->store, "ctr-b", NULL, &error));
      g_assert_no_error (error);
    }
  assert_absent (b);
  g_free (ostree_fsck (fx));
}

/* after a reboot the overlay is gone but its dirs and ref are on disk: prepare re-mounts it */
static void
test_rootfs_remount (Fixture *fx, gconstpointer data)
{
  g_autofree char *path = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *remounted = NULL;
  g_autoptr (GroveImage) image = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) ids = NULL;

  if (fx->store == NULL)
    return;
  path = fx_path (fx, "img");
  grove_test_mkimage ("busybox", "--format", "oci-dir", path, NULL);
  image = import_one (fx, path, "localhost/remount:1");
  rootfs = grove_store_prepare_rootfs (fx->store, "survivor", "localhost/remount:1", NULL, &error);
  g_assert_no_error (error);
  write_file (rootfs, "root/state", "kept\n");

  /* the daemon goes away and the mount with it */
  g_clear_object (&fx->store);
  g_assert_cmpint (umount2 (rootfs, 0), ==, 0);
  g_assert_false (
      g_file_test (g_build_filename (rootfs, "root", "state", NULL), G_FILE_TEST_EXISTS));

  fx->store = grove_store_open (fx->root, NULL, &error);
  g_assert_no_error (error);
  ids = grove_store_list_rootfs (fx->store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (ids), ==, 1);
  g_assert_cmpstr (ids[0], ==, "survivor");
  remounted = grove_store_prepare_rootfs (fx->store, "survivor", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (remounted, ==, rootfs);
  assert_file_contents (rootfs, "root/state", "kept\n");
}

static void
test_lock (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveStore) second = NULL;

  if (fx->store == NULL)
    return;
  second = grove_store_open (fx->root, NULL, &error);
  g_assert_null (second);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_BUSY);
  g_assert_nonnull (strstr (error->message, "in use by another process"));
  g_clear_error (&error);
  g_clear_object (&fx->store);
  fx->store = grove_store_open (fx->root, NULL, &error);
  g_assert_no_error (error);
}

/* an import SIGKILLed half-way leaves a consistent repo and no image; a re-import works */
static void
test_kill_import (Fixture *fx, gconstpointer data)
{
  g_autofree char *path = NULL;
  g_autofree char *helper = NULL;
  g_autoptr (GSubprocess) child = NULL;
  g_autoptr (GDataInputStream) lines = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveImage) image = NULL;
  guint64 files = 0;

  if (fx->store == NULL)
    return;
  path = fx_path (fx, "big");
  grove_test_mkimage ("bigimage", "--files", "4000", "--total-bytes", "40000000", "--tag",
                      "localhost/big:1", path, NULL);
  /* the child takes the store: this process lets go of it first */
  g_clear_object (&fx->store);
  helper = g_test_build_filename (G_TEST_BUILT, "grove-store-tool", NULL);
  child = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, helper, "import", fx->root,
                            path, NULL);
  g_assert_no_error (error);
  lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (child));
  while (files < 1000)
    {
      g_autofree char *line = g_data_input_stream_read_line (lines, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (line);
      g_assert_true (g_str_has_prefix (line, "progress "));
      files = g_ascii_strtoull (line + strlen ("progress "), NULL, 10);
    }
  g_subprocess_force_exit (child);
  g_subprocess_wait (child, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (g_subprocess_get_if_exited (child));
  g_test_message ("killed the import after %" G_GUINT64_FORMAT " files", files);

  fx->store = grove_store_open (fx->root, NULL, &error);
  g_assert_no_error (error);
  g_free (ostree_fsck (fx));
  g_assert_cmpuint (count_refs (fx, "grove/images"), ==, 0);
  g_assert_cmpuint (count_refs (fx, "grove/tags"), ==, 0);
  g_assert_null (grove_store_lookup_image (fx->store, "localhost/big:1", NULL, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_clear_error (&error);

  image = import_one (fx, path, NULL);
  g_assert_cmpstr (grove_image_get_names (image)[0], ==, "localhost/big:1");
  g_free (ostree_fsck (fx));
}

static void
test_multiplatform (Fixture *fx, gconstpointer data)
{
  g_autofree char *both = NULL;
  g_autofree char *foreign = NULL;
  g_autofree char *rootfs = NULL;
  g_autoptr (GroveImage) image = NULL;
  g_autoptr (GPtrArray) images = NULL;
  g_autoptr (GError) error = NULL;
  const char *os, *arch, *variant;
  g_autofree char *platform = NULL;

  if (fx->store == NULL)
    return;
  grove_host_platform (&os, &arch, &variant);
  platform = g_strdup_printf ("%s/%s", os, arch);
  both = fx_path (fx, "both");
  foreign = fx_path (fx, "foreign");
  grove_test_mkimage ("multiplatform", "--platforms", "linux/arm64,linux/amd64,linux/s390x",
                      "--tag", "localhost/multi:1", both, NULL);
  grove_test_mkimage ("multiplatform", "--platforms", "linux/ppc64le,linux/s390x", "--tag",
                      "localhost/foreign:1", foreign, NULL);
  image = import_one (fx, both, NULL);
  rootfs = grove_store_prepare_rootfs (fx->store, "mp", "localhost/multi:1", NULL, &error);
  g_assert_no_error (error);
  if (g_str_equal (platform, "linux/amd64") || g_str_equal (platform, "linux/arm64"))
    {
      g_autofree char *expected = g_strdup_printf ("%s\n", platform);
      g_autofree char *contents = NULL;
      g_autofree char *file = g_build_filename (rootfs, "etc", "platform", NULL);
      g_file_get_contents (file, &contents, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (g_strchomp (contents), ==, platform);
    }

  images = grove_store_import_image (fx->store, foreign, GROVE_IMAGE_FORMAT_AUTO, NULL, NULL, NULL,
                                     NULL, &error);
  g_assert_null (images);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_UNSUPPORTED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "linux/s390x"));
}

static void
import_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GPtrArray **out = user_data;
  g_autoptr (GError) error = NULL;

  *out = grove_store_import_image_finish (GROVE_STORE (source), result, &error);
  g_assert_no_error (error);
}

static void
count_progress_cb (const GroveImportProgress *progress, gpointer user_data)
{
  guint64 *max_bytes = user_data;
  *max_bytes = MAX (*max_bytes, progress->bytes);
}

/* the main loop keeps turning while a worker thread imports */
static void
test_import_async (Fixture *fx, gconstpointer data)
{
  g_autofree char *path = NULL;
  g_autoptr (GPtrArray) images = NULL;
  guint64 max_bytes = 0;

  if (fx->store == NULL)
    return;
  path = fx_path (fx, "img");
  grove_test_mkimage ("busybox", "--format", "oci-archive", "--compression", "gzip", path, NULL);
  grove_store_import_image_async (fx->store, path, GROVE_IMAGE_FORMAT_OCI_ARCHIVE,
                                  "localhost/async:1", count_progress_cb, &max_bytes, NULL,
                                  import_done_cb, &images);
  while (images == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (images->len, ==, 1);
  g_assert_cmpuint (max_bytes, >, 100 * 1024);
  g_assert_cmpstr (grove_image_get_names (images->pdata[0])[0], ==, "localhost/async:1");
}

static void
write_runc_config (const char *bundle, const char *rootfs, const char *bind_source)
{
  g_autofree char *config_path = g_build_filename (bundle, "config.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (GError) error = NULL;
  JsonObject *config, *process, *root, *mount;
  JsonArray *args;

  g_assert_cmpint (grove_test_run (NULL, "sh", "-c", "cd \"$0\" && runc spec", bundle, NULL), ==,
                   0);
  json_parser_load_from_file (parser, config_path, &error);
  g_assert_no_error (error);
  config = json_node_get_object (json_parser_get_root (parser));
  process = json_object_get_object_member (config, "process");
  json_object_set_boolean_member (process, "terminal", FALSE);
  args = json_array_new ();
  json_array_add_string_element (args, "/bin/sh");
  json_array_add_string_element (args, "-c");
  json_array_add_string_element (args, "echo hello from grove; cat /etc/grove-bind; "
                                       "echo written > /root/out; id -u");
  json_object_set_array_member (process, "args", args);
  root = json_object_get_object_member (config, "root");
  json_object_set_string_member (root, "path", rootfs);
  json_object_set_boolean_member (root, "readonly", FALSE);
  /* a mount point the image does not have: runc must be able to create it */
  mount = json_object_new ();
  json_object_set_string_member (mount, "destination", "/etc/grove-bind");
  json_object_set_string_member (mount, "type", "bind");
  json_object_set_string_member (mount, "source", bind_source);
  args = json_array_new ();
  json_array_add_string_element (args, "rbind");
  json_array_add_string_element (args, "ro");
  json_object_set_array_member (mount, "options", args);
  json_array_add_object_element (json_object_get_array_member (config, "mounts"), mount);
  json_generator_set_root (generator, json_parser_get_root (parser));
  json_generator_to_file (generator, config_path, &error);
  g_assert_no_error (error);
}

/* the rootfs is what a real OCI runtime needs: runc runs in it and creates its mount points
 * in the container's upper dir, never in the shared checkout */
static void
test_rootfs_runc (Fixture *fx, gconstpointer data)
{
  g_autofree char *path = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *bundle = NULL;
  g_autofree char *state = NULL;
  g_autofree char *bind_source = NULL;
  g_autofree char *out = NULL;
  g_autofree char *checkout = NULL;
  g_autofree char *upper = NULL;
  g_autoptr (GroveImage) image = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *cid = g_strdup_printf ("grove-test-%d", (int)getpid ());

  if (fx->store == NULL)
    return;
  if (g_find_program_in_path ("runc") == NULL)
    {
      g_test_skip ("runc is not installed");
      return;
    }
  path = fx_path (fx, "img");
  bundle = fx_path (fx, "bundle");
  state = fx_path (fx, "runc-state");
  bind_source = fx_path (fx, "bind-source");
  g_assert_cmpint (mkdir (bundle, 0700), ==, 0);
  write_file (fx->tmpdir, "bind-source", "bound from the host\n");
  grove_test_mkimage ("busybox", "--format", "oci-dir", path, NULL);
  image = import_one (fx, path, "localhost/runc:1");
  rootfs = grove_store_prepare_rootfs (fx->store, cid, "localhost/runc:1", NULL, &error);
  g_assert_no_error (error);
  write_runc_config (bundle, rootfs, bind_source);

  g_assert_cmpint (
      grove_test_run (&out, "runc", "--root", state, "run", "--bundle", bundle, cid, NULL), ==, 0);
  g_assert_cmpstr (out, ==, "hello from grove\nbound from the host\n0\n");
  assert_file_contents (rootfs, "root/out", "written\n");
  checkout = g_build_filename (fx->root, "checkouts", grove_image_get_id (image), NULL);
  upper = g_build_filename (fx->root, "snapshots", cid, "upper", NULL);
  g_assert_true (
      g_file_test (g_build_filename (upper, "etc", "grove-bind", NULL), G_FILE_TEST_EXISTS));
  assert_absent (g_build_filename (checkout, "etc", "grove-bind", NULL));
  assert_absent (g_build_filename (checkout, "root", "out", NULL));
  grove_store_release_rootfs (fx->store, cid, NULL, &error);
  g_assert_no_error (error);
}

typedef struct
{
  gintptr first_progress; /* monotonic µs, written by the worker thread */
  gintptr last_progress;
} ImportTimes;

static void
record_progress_cb (const GroveImportProgress *progress, gpointer user_data)
{
  ImportTimes *times = user_data;
  gintptr now = (gintptr)g_get_monotonic_time ();

  g_atomic_pointer_compare_and_exchange (&times->first_progress, (gintptr)0, now);
  g_atomic_pointer_set (&times->last_progress, now);
}

/* a long import in a worker thread does not hold up preparing a rootfs */
static void
test_prepare_during_import (Fixture *fx, gconstpointer data)
{
  g_autofree char *small = NULL;
  g_autofree char *big = NULL;
  g_autofree char *rootfs = NULL;
  g_autoptr (GroveImage) image = NULL;
  g_autoptr (GPtrArray) images = NULL;
  g_autoptr (GError) error = NULL;
  ImportTimes times = { 0, 0 };
  gint64 prepared;

  if (fx->store == NULL)
    return;
  small = fx_path (fx, "small");
  big = fx_path (fx, "big");
  grove_test_mkimage ("busybox", "--format", "oci-dir", small, NULL);
  grove_test_mkimage ("bigimage", "--files", "4000", "--total-bytes", "40000000", big, NULL);
  image = import_one (fx, small, "localhost/small:1");
  grove_store_import_image_async (fx->store, big, GROVE_IMAGE_FORMAT_AUTO, "localhost/big:1",
                                  record_progress_cb, &times, NULL, import_done_cb, &images);
  while (g_atomic_pointer_get (&times.first_progress) == 0)
    g_usleep (1000);
  rootfs = grove_store_prepare_rootfs (fx->store, "during", "localhost/small:1", NULL, &error);
  g_assert_no_error (error);
  prepared = g_get_monotonic_time ();
  while (images == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_test_message ("rootfs ready %" G_GINT64_FORMAT " ms before the import's last progress",
                  ((gint64)g_atomic_pointer_get (&times.last_progress) - prepared) / 1000);
  g_assert_cmpint ((gint64)g_atomic_pointer_get (&times.last_progress), >, prepared);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, func)                                                                            \
  g_test_add ("/grove/store/" name, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("import/formats", test_import_formats);
  ADD ("import/small", test_import_small);
  ADD ("import/multilayer-umoci", test_multilayer_umoci);
  ADD ("import/hostile", test_hostile);
  ADD ("import/dedup", test_dedup);
  ADD ("remove", test_remove);
  ADD ("lookup-and-tags", test_lookup_and_tags);
  ADD ("rootfs/isolation", test_rootfs_isolation);
  ADD ("rootfs/remount", test_rootfs_remount);
  ADD ("rootfs/runc", test_rootfs_runc);
  ADD ("lock", test_lock);
  ADD ("import/kill", test_kill_import);
  ADD ("import/multiplatform", test_multiplatform);
  ADD ("import/async", test_import_async);
  ADD ("rootfs/during-import", test_prepare_during_import);
  return g_test_run ();
}
