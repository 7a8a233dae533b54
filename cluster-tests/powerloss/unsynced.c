// unsynced: an LD_PRELOAD layer that makes every write a process does under one directory
// undoable until an fsync covers it, so a test can play a power loss after kill -9: undo what
// no fsync covered, restart, and check that nothing acknowledged is gone.
//
// kill -9 alone keeps the page cache, so it cannot show a missing fsync; a real power cut
// loses whatever the disk had not been told to make durable. This layer journals, before each
// change to a file under one of the directories in $UNSYNCED_ROOTS (colon-separated), what the change overwrites (a pre-image), and each
// fsync/fdatasync that made a file's earlier changes durable. Directory entries are tracked
// too: a file or directory created under a root is durable only once its parent
// directory is fsynced. The journal ($UNSYNCED_JOURNAL_DIR/unsynced-<pid>.journal) is read by
// the test's recovery (cluster-tests/src/powerloss.rs), which undoes every change no later
// fsync covers, newest first: the state a disk that kept only what it was told to keep would
// show after the power came back.
//
// Modelled: write, pwrite, writev, pwritev, ftruncate, O_TRUNC, file and directory creation,
// unlink and rename (as durable at once: the model never brings back a removed or renamed
// name, which a real file system might). Not modelled: mmap'd writes, fallocate,
// copy_file_range (nothing under test uses them). With UNSYNCED_IGNORE_SYNC=<substring>, an
// fsync of a file whose path contains it is not journaled: the negative control, a WAL that
// "forgets" to fsync.
//
// Records (native-endian, each preceded by its kind byte):
//   'P' seq ino offset old_size len path_len path bytes[len]   pre-image of a change
//   'S' seq ino covers                                          fsync: changes with seq < covers
//   'C' seq ino parent_ino path_len path                        created file or directory
//   'U' seq ino                                                 unlinked (the inode's end)
//   'D' seq ino                                                 a directory was fsynced
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

// Recursive: an error message on the way to abort() goes through write().
static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static pthread_once_t once = PTHREAD_ONCE_INIT;
#define MAX_ROOTS 16
static char roots[MAX_ROOTS][PATH_MAX];
static int n_roots;
static const char *ignore_sync;
static int journal = -1;
static uint64_t seq;

static void init(void) {
  const char *r = getenv("UNSYNCED_ROOTS");
  const char *d = getenv("UNSYNCED_JOURNAL_DIR");
  ignore_sync = getenv("UNSYNCED_IGNORE_SYNC");
  if (!r || !d) return;
  char list[PATH_MAX * 4];
  snprintf(list, sizeof list, "%s", r);
  for (char *save = NULL, *one = strtok_r(list, ":", &save); one && n_roots < MAX_ROOTS;
       one = strtok_r(NULL, ":", &save)) {
    // A root that does not exist yet is not tracked: the test creates them first.
    if (realpath(one, roots[n_roots])) n_roots++;
  }
  if (n_roots == 0) return;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/unsynced-%d.journal", d, (int)getpid());
  journal = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (journal < 0) {
    // A journal that cannot be written would make the test meaningless: stop here.
    fprintf(stderr, "unsynced: cannot open %s: %s\n", path, strerror(errno));
    abort();
  }
}

static int active(void) {
  pthread_once(&once, init);
  return journal >= 0;
}

static void out(const void *p, size_t n) {
  const char *b = p;
  while (n > 0) {
    ssize_t w = syscall(SYS_write, journal, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      fprintf(stderr, "unsynced: journal write failed: %s\n", strerror(errno));
      abort();
    }
    b += w;
    n -= (size_t)w;
  }
}

static void head(char kind, uint64_t ino) {
  out(&kind, 1);
  uint64_t s = seq++;
  out(&s, 8);
  out(&ino, 8);
}

static int under_root(const char *path) {
  for (int i = 0; i < n_roots; i++) {
    size_t l = strlen(roots[i]);
    if (strncmp(path, roots[i], l) == 0 && (path[l] == '/' || path[l] == 0)) return 1;
  }
  return 0;
}

// The file behind fd, if it lies under the root.
static int fd_path(int fd, char *path) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, PATH_MAX - 1);
  if (n <= 0) return 0;
  path[n] = 0;
  return under_root(path);
}

// Absolute path of `path` (relative to dirfd) without following a final symlink; the parent
// must exist.
static int abs_path(int dirfd, const char *path, char *outp) {
  char dir[PATH_MAX], base[PATH_MAX];
  const char *slash = strrchr(path, '/');
  if (path[0] != '/' && dirfd != AT_FDCWD) {
    char d[PATH_MAX];
    if (!fd_path(dirfd, d)) return 0;
    snprintf(dir, sizeof dir, "%s/%s", d, path);
  } else {
    snprintf(dir, sizeof dir, "%s", path);
  }
  slash = strrchr(dir, '/');
  if (slash) {
    snprintf(base, sizeof base, "%s", slash + 1);
    dir[slash - dir] = 0;
    if (dir[0] == 0) strcpy(dir, "/");
  } else {
    snprintf(base, sizeof base, "%s", dir);
    strcpy(dir, ".");
  }
  char real[PATH_MAX];
  if (!realpath(dir, real)) return 0;
  snprintf(outp, PATH_MAX, "%s/%s", real, base);
  return under_root(outp);
}

static void record_pre(int fd, uint64_t ino, off_t off, size_t len, off_t size, const char *path) {
  size_t have = 0;
  if (off < size) have = (size_t)(size - off) < len ? (size_t)(size - off) : len;
  char *buf = have ? malloc(have) : NULL;
  if (have) {
    // The fd may be write-only: read through a fresh descriptor of the same file.
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    int rfd = (int)syscall(SYS_openat, AT_FDCWD, link, O_RDONLY | O_CLOEXEC);
    size_t got = 0;
    while (rfd >= 0 && got < have) {
      ssize_t r = syscall(SYS_pread64, rfd, buf + got, have - got, off + (off_t)got);
      if (r <= 0) break;
      got += (size_t)r;
    }
    if (rfd >= 0) close(rfd);
    if (got < have) {
      fprintf(stderr, "unsynced: cannot read the pre-image of %s\n", path);
      abort();
    }
  }
  head('P', ino);
  uint64_t o = (uint64_t)off, s = (uint64_t)size, l = have;
  uint32_t pl = (uint32_t)strlen(path);
  out(&o, 8);
  out(&s, 8);
  out(&l, 8);
  out(&pl, 4);
  out(path, pl);
  if (have) out(buf, have);
  free(buf);
}

// Journals the pre-image of `len` bytes at `off` (or at the end with O_APPEND) of fd.
static void before_write(int fd, off_t off, int at_cursor, size_t len) {
  char path[PATH_MAX];
  struct stat st;
  if (!active() || !fd_path(fd, path) || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  if (at_cursor) {
    int fl = fcntl(fd, F_GETFL);
    off = (fl >= 0 && (fl & O_APPEND)) ? st.st_size : lseek(fd, 0, SEEK_CUR);
  }
  record_pre(fd, st.st_ino, off, len, st.st_size, path);
}

typedef ssize_t (*write_t)(int, const void *, size_t);
typedef ssize_t (*pwrite_t)(int, const void *, size_t, off_t);
typedef ssize_t (*writev_t)(int, const struct iovec *, int);
typedef ssize_t (*pwritev_t)(int, const struct iovec *, int, off_t);
typedef int (*ftruncate_t)(int, off_t);
typedef int (*fsync_t)(int);
typedef int (*openat_t)(int, const char *, int, ...);
typedef int (*unlinkat_t)(int, const char *, int);
typedef int (*renameat2_t)(int, const char *, int, const char *, unsigned);
typedef int (*mkdirat_t)(int, const char *, mode_t);

#define REAL(type, name) ((type)dlsym(RTLD_NEXT, name))

static size_t iov_len(const struct iovec *iov, int n) {
  size_t t = 0;
  for (int i = 0; i < n; i++) t += iov[i].iov_len;
  return t;
}

ssize_t write(int fd, const void *b, size_t n) {
  pthread_mutex_lock(&lock);
  before_write(fd, 0, 1, n);
  ssize_t r = REAL(write_t, "write")(fd, b, n);
  pthread_mutex_unlock(&lock);
  return r;
}

ssize_t pwrite(int fd, const void *b, size_t n, off_t off) {
  pthread_mutex_lock(&lock);
  before_write(fd, off, 0, n);
  ssize_t r = REAL(pwrite_t, "pwrite")(fd, b, n, off);
  pthread_mutex_unlock(&lock);
  return r;
}

ssize_t pwrite64(int fd, const void *b, size_t n, off_t off) {
  pthread_mutex_lock(&lock);
  before_write(fd, off, 0, n);
  ssize_t r = REAL(pwrite_t, "pwrite64")(fd, b, n, off);
  pthread_mutex_unlock(&lock);
  return r;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
  pthread_mutex_lock(&lock);
  before_write(fd, 0, 1, iov_len(iov, cnt));
  ssize_t r = REAL(writev_t, "writev")(fd, iov, cnt);
  pthread_mutex_unlock(&lock);
  return r;
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
  pthread_mutex_lock(&lock);
  before_write(fd, off, 0, iov_len(iov, cnt));
  ssize_t r = REAL(pwritev_t, "pwritev")(fd, iov, cnt, off);
  pthread_mutex_unlock(&lock);
  return r;
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off) {
  pthread_mutex_lock(&lock);
  before_write(fd, off, 0, iov_len(iov, cnt));
  ssize_t r = REAL(pwritev_t, "pwritev64")(fd, iov, cnt, off);
  pthread_mutex_unlock(&lock);
  return r;
}

static int truncate_to(const char *name, int fd, off_t len) {
  pthread_mutex_lock(&lock);
  char path[PATH_MAX];
  struct stat st;
  if (active() && fd_path(fd, path) && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    // Cut bytes are the pre-image; an extension is undone by the size alone.
    off_t from = len < st.st_size ? len : st.st_size;
    record_pre(fd, st.st_ino, from, (size_t)(st.st_size - from), st.st_size, path);
  }
  int r = REAL(ftruncate_t, name)(fd, len);
  pthread_mutex_unlock(&lock);
  return r;
}

int ftruncate(int fd, off_t len) { return truncate_to("ftruncate", fd, len); }
int ftruncate64(int fd, off_t len) { return truncate_to("ftruncate64", fd, len); }

static int sync_fd(const char *name, int fd) {
  char path[PATH_MAX];
  struct stat st;
  pthread_mutex_lock(&lock);
  int tracked = active() && fd_path(fd, path) && fstat(fd, &st) == 0;
  uint64_t covers = seq;
  pthread_mutex_unlock(&lock);
  // Outside the lock: other threads write on while this fsync runs, and `covers` leaves
  // their changes uncovered.
  int r = REAL(fsync_t, name)(fd);
  if (r == 0 && tracked) {
    pthread_mutex_lock(&lock);
    if (S_ISDIR(st.st_mode)) {
      head('D', st.st_ino);
    } else if (!(ignore_sync && *ignore_sync && strstr(path, ignore_sync))) {
      head('S', st.st_ino);
      out(&covers, 8);
    }
    pthread_mutex_unlock(&lock);
  }
  return r;
}

int fsync(int fd) { return sync_fd("fsync", fd); }
int fdatasync(int fd) { return sync_fd("fdatasync", fd); }

static void record_create(const char *path, uint64_t ino) {
  char parent[PATH_MAX];
  struct stat ps;
  snprintf(parent, sizeof parent, "%s", path);
  char *slash = strrchr(parent, '/');
  if (!slash) return;
  *slash = 0;
  if (stat(parent, &ps) != 0) return;
  head('C', ino);
  uint64_t p = ps.st_ino;
  uint32_t pl = (uint32_t)strlen(path);
  out(&p, 8);
  out(&pl, 4);
  out(path, pl);
}

static int open_common(int dirfd, const char *file, int flags, mode_t mode) {
  pthread_mutex_lock(&lock);
  char path[PATH_MAX];
  struct stat st;
  int tracked = active() && abs_path(dirfd, file, path);
  int existed = tracked && lstat(path, &st) == 0;
  if (tracked && existed && (flags & O_TRUNC) && S_ISREG(st.st_mode) && st.st_size > 0 &&
      (flags & O_ACCMODE) != O_RDONLY) {
    int rfd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (rfd >= 0) {
      record_pre(rfd, st.st_ino, 0, (size_t)st.st_size, st.st_size, path);
      close(rfd);
    }
  }
  int fd = REAL(openat_t, "openat")(dirfd, file, flags, mode);
  if (fd >= 0 && tracked && !existed && fstat(fd, &st) == 0) record_create(path, st.st_ino);
  pthread_mutex_unlock(&lock);
  return fd;
}

static mode_t mode_arg(int flags, va_list ap) {
  return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *p, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t m = mode_arg(flags, ap);
  va_end(ap);
  return open_common(AT_FDCWD, p, flags, m);
}

int open64(const char *p, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t m = mode_arg(flags, ap);
  va_end(ap);
  return open_common(AT_FDCWD, p, flags, m);
}

int openat(int d, const char *p, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t m = mode_arg(flags, ap);
  va_end(ap);
  return open_common(d, p, flags, m);
}

int openat64(int d, const char *p, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t m = mode_arg(flags, ap);
  va_end(ap);
  return open_common(d, p, flags, m);
}

int creat(const char *p, mode_t m) { return open_common(AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC, m); }
int creat64(const char *p, mode_t m) { return open_common(AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC, m); }

int mkdirat(int d, const char *p, mode_t m) {
  pthread_mutex_lock(&lock);
  char path[PATH_MAX];
  struct stat st;
  int tracked = active() && abs_path(d, p, path);
  int r = REAL(mkdirat_t, "mkdirat")(d, p, m);
  if (r == 0 && tracked && lstat(path, &st) == 0) record_create(path, st.st_ino);
  pthread_mutex_unlock(&lock);
  return r;
}

int mkdir(const char *p, mode_t m) { return mkdirat(AT_FDCWD, p, m); }

// The inode at `path` ends (unlinked, or replaced by a rename).
static void record_end(int dirfd, const char *file) {
  char path[PATH_MAX];
  struct stat st;
  if (active() && abs_path(dirfd, file, path) && lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
      st.st_nlink == 1)
    head('U', st.st_ino);
}

int unlinkat(int d, const char *p, int flags) {
  pthread_mutex_lock(&lock);
  if (!(flags & AT_REMOVEDIR)) record_end(d, p);
  int r = REAL(unlinkat_t, "unlinkat")(d, p, flags);
  pthread_mutex_unlock(&lock);
  return r;
}

int unlink(const char *p) { return unlinkat(AT_FDCWD, p, 0); }

int renameat2(int od, const char *o, int nd, const char *n, unsigned flags) {
  pthread_mutex_lock(&lock);
  record_end(nd, n);
  int r = REAL(renameat2_t, "renameat2")(od, o, nd, n, flags);
  pthread_mutex_unlock(&lock);
  return r;
}

int renameat(int od, const char *o, int nd, const char *n) { return renameat2(od, o, nd, n, 0); }
int rename(const char *o, const char *n) { return renameat2(AT_FDCWD, o, AT_FDCWD, n, 0); }
