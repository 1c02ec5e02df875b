package sink

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Root is a dataset folder. Every file and folder a run makes is made
// relative to it without following symbolic links: tacap runs as root,
// often in folders others can write to, and a link planted there (packets
// -> /etc) must not send its data elsewhere. Paths are resolved with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) where the kernel has it
// (Linux 5.6), else component by component with O_NOFOLLOW.
type Root struct {
	dir string // as given: for messages and absolute paths
	fd  int    // O_PATH descriptor of the folder
}

// ErrSymlink marks a path below a dataset folder that is a symbolic link.
var ErrSymlink = errors.New("is a symbolic link: tacap does not write through links")

// SymlinkError names the link found.
type SymlinkError struct{ Path string }

func (e *SymlinkError) Error() string { return e.Path + " " + ErrSymlink.Error() }
func (e *SymlinkError) Unwrap() error { return ErrSymlink }

// OpenRoot opens dir, which must exist. dir itself may be reached through
// links (it is the user's choice); nothing below it may be one.
func OpenRoot(dir string) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	return &Root{dir: dir, fd: fd}, nil
}

// Close releases the folder.
func (r *Root) Close() error { return unix.Close(r.fd) }

// Dir is the folder as given.
func (r *Root) Dir() string { return r.dir }

// Abs is rel below the folder, for messages and tests.
func (r *Root) Abs(rel string) string { return filepath.Join(r.dir, rel) }

// CheckNoSymlinks walks what is already below the folder and fails, naming
// it, on the first symbolic link.
func (r *Root) CheckNoSymlinks() error {
	return filepath.WalkDir(r.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return &SymlinkError{Path: path}
		}
		return nil
	})
}

// noOpenat2 is set once a kernel says it has no openat2; the CSV flush
// opens files from several goroutines, so it is an atomic.
var noOpenat2 atomic.Bool

// open resolves rel below the folder, refusing links and escapes.
func (r *Root) open(rel string, flags int, mode uint32) (int, error) {
	rel = filepath.Clean(rel)
	if rel == "." {
		return unix.Openat(r.fd, ".", flags|unix.O_CLOEXEC, mode)
	}
	if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
		return -1, fmt.Errorf("%s is not below %s", rel, r.dir)
	}
	if flags&(unix.O_CREAT|unix.O_TMPFILE) == 0 {
		mode = 0 // openat2 refuses a mode it would not use
	}
	if !noOpenat2.Load() {
		fd, err := unix.Openat2(r.fd, rel, &unix.OpenHow{
			Flags: uint64(flags | unix.O_CLOEXEC), Mode: uint64(mode),
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
		})
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.ENOSYS):
			noOpenat2.Store(true)
		case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV):
			return -1, r.whichLink(rel, err)
		default:
			return -1, err
		}
	}
	return r.openByComponent(rel, flags, mode)
}

// openByComponent is open for kernels without openat2: every folder on
// the way is opened with O_NOFOLLOW, and so is the last component.
func (r *Root) openByComponent(rel string, flags int, mode uint32) (int, error) {
	parts := strings.Split(rel, "/")
	dir, err := unix.Dup(r.fd)
	if err != nil {
		return -1, err
	}
	for _, p := range parts[:len(parts)-1] {
		next, err := unix.Openat(dir, p, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(dir)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, r.whichLink(rel, err)
		}
		if err != nil {
			return -1, err
		}
		dir = next
	}
	fd, err := unix.Openat(dir, parts[len(parts)-1], flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	unix.Close(dir)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return -1, r.whichLink(rel, err)
	}
	if err == nil && flags&unix.O_PATH != 0 {
		// O_PATH|O_NOFOLLOW opens a link itself instead of failing.
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			unix.Close(fd)
			return -1, r.whichLink(rel, unix.ELOOP)
		}
	}
	return fd, err
}

// whichLink names the first component of rel that is a link, or returns
// err when none is (the path failed for another reason).
func (r *Root) whichLink(rel string, err error) error {
	p := r.dir
	for _, c := range strings.Split(rel, "/") {
		p = filepath.Join(p, c)
		if st, lerr := os.Lstat(p); lerr == nil && st.Mode()&fs.ModeSymlink != 0 {
			return &SymlinkError{Path: p}
		}
	}
	return err
}

// parent opens the folder holding rel and returns it with rel's last name.
func (r *Root) parent(rel string) (int, string, error) {
	fd, err := r.open(filepath.Dir(rel), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, "", err
	}
	return fd, filepath.Base(rel), nil
}

// MkdirAll makes rel and the folders above it below the root.
func (r *Root) MkdirAll(rel string, mode uint32) error {
	rel = filepath.Clean(rel)
	if rel == "." {
		return nil
	}
	prefix := ""
	for _, c := range strings.Split(rel, "/") {
		prefix = filepath.Join(prefix, c)
		pfd, name, err := r.parent(prefix)
		if err != nil {
			return fmt.Errorf("create %s: %w", r.Abs(prefix), err)
		}
		err = unix.Mkdirat(pfd, name, mode)
		unix.Close(pfd)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create %s: %w", r.Abs(prefix), err)
		}
	}
	// What exists there must be a folder and no link.
	fd, err := r.open(rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("create %s: %w", r.Abs(rel), err)
	}
	return unix.Close(fd)
}

// OpenFile opens rel below the root (flags as for os.OpenFile).
func (r *Root) OpenFile(rel string, flags int, mode os.FileMode) (*os.File, error) {
	fd, err := r.open(rel, flags, uint32(mode.Perm()))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: r.Abs(rel), Err: err}
	}
	return os.NewFile(uintptr(fd), r.Abs(rel)), nil
}

// Exists reports whether rel exists (a link counts, and is not followed).
func (r *Root) Exists(rel string) (bool, error) {
	pfd, name, err := r.parent(rel)
	if err != nil {
		return false, err
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	err = unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return true, &SymlinkError{Path: r.Abs(rel)}
	}
	return err == nil, err
}

// Link gives oldRel a second name, newRel, in the same folder; it fails if
// newRel exists (a link never replaces a file).
func (r *Root) Link(oldRel, newRel string) error {
	if filepath.Dir(oldRel) != filepath.Dir(newRel) {
		return fmt.Errorf("link %s to %s: not in one folder", oldRel, newRel)
	}
	pfd, oldName, err := r.parent(oldRel)
	if err != nil {
		return &fs.PathError{Op: "link", Path: r.Abs(newRel), Err: err}
	}
	defer unix.Close(pfd)
	if err := unix.Linkat(pfd, oldName, pfd, filepath.Base(newRel), 0); err != nil {
		if errors.Is(err, unix.EEXIST) {
			if _, serr := r.Exists(newRel); serr != nil {
				return serr // a link planted where the file was to appear
			}
		}
		return &fs.PathError{Op: "link", Path: r.Abs(newRel), Err: err}
	}
	return nil
}

// Remove removes the file rel.
func (r *Root) Remove(rel string) error {
	pfd, name, err := r.parent(rel)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: r.Abs(rel), Err: err}
	}
	defer unix.Close(pfd)
	if err := unix.Unlinkat(pfd, name, 0); err != nil {
		return &fs.PathError{Op: "remove", Path: r.Abs(rel), Err: err}
	}
	return nil
}

// RemoveDir removes the folder rel if it is empty.
func (r *Root) RemoveDir(rel string) error {
	pfd, name, err := r.parent(rel)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	return unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
}

// SyncDir flushes the folder rel (new names in it reach the disk).
func (r *Root) SyncDir(rel string) error {
	fd, err := r.open(rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsync(fd)
}
