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
  return g_test_run ();
}
