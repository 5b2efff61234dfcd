// Package extproc runs external programs (TotalSegmentator, nnU-Net, dcm2niix) the way a long
// pipeline needs them run: with a context and a timeout, a given environment and working
// folder, stdout and stderr appended to a log file, and in a process group of their own so that a
// timeout or a cancellation ends the program together with every process it started (nnU-Net's
// worker pools included), not just the program itself.
//
// Errors say what to do: a program that is not installed gives a NotFoundError naming it and the
// install hint; a non-zero exit gives an ExitError with the end of the log; a timeout gives a
// TimeoutError. All three also match ErrNotFound, ErrExit and ErrTimeout with errors.Is.
package extproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DefaultGrace is how long a program gets between SIGTERM and SIGKILL when Cmd.Grace is 0.
const DefaultGrace = 10 * time.Second

// tailBytes is how much of the end of the log an error quotes.
const tailBytes = 4096

// Sentinel errors, matched with errors.Is.
var (
	// ErrNotFound: the program is not on PATH (or the given path is not an executable file).
	ErrNotFound = errors.New("program not found")
	// ErrExit: the program ran and exited with a non-zero status or was killed by a signal.
	ErrExit = errors.New("program failed")
	// ErrTimeout: the program ran longer than Cmd.Timeout and was killed.
	ErrTimeout = errors.New("program timed out")
)

// Cmd describes one run of an external program.
type Cmd struct {
	// Path is the program: a name looked up on the PATH of Env, or a path (anything containing a
	// slash), used as is.
	Path string
	// Args are the arguments, without the program name.
	Args []string
	// Name is how errors name the program; "" = Path. A program run through a wrapper (bash -c
	// 'activate && exec "$0" "$@"' prog …) is named after what it runs.
	Name string
	// Env is the complete environment of the program ("KEY=value"); nil inherits os.Environ().
	// The program is looked up on the PATH given here.
	Env []string
	// Dir is the working folder; "" = the current one.
	Dir string
	// LogPath receives stdout and stderr (appended, preceded by a line with the command); ""
	// discards them, although errors still quote their end.
	LogPath string
	// Timeout ends the run after this long; 0 = no limit (ctx still applies).
	Timeout time.Duration
	// Grace is the time between SIGTERM and SIGKILL on timeout or cancellation; 0 = DefaultGrace.
	Grace time.Duration
	// Stdout, when set, receives the program's standard output instead of the log (standard
	// error still goes to the log), for programs whose output is their answer (--version).
	Stdout io.Writer
	// Hint completes the not-found message: "install …" or "set …", e.g. "install it with
	// `pip install TotalSegmentator` or set segmentation.backend: builtin".
	Hint string
}

// Result describes a finished run.
type Result struct {
	// Path is the program that ran, resolved.
	Path string
	// Duration is the wall time of the run.
	Duration time.Duration
}

// NotFoundError reports a program that cannot be started because it does not exist.
type NotFoundError struct {
	Program string
	Hint    string
}

// Error implements error: "X not found on PATH; install … or set …".
func (e *NotFoundError) Error() string {
	where := "not found on PATH"
	if strings.ContainsRune(e.Program, '/') {
		where = "not found or not executable"
	}
	msg := e.Program + " " + where
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ExitError reports a run that ended with a non-zero exit status or a signal.
type ExitError struct {
	// Program is the program's name as given in Cmd.Path.
	Program string
	// Code is the exit status, -1 when the program was killed by a signal.
	Code int
	// Signal is the signal that killed the program, 0 when it exited.
	Signal syscall.Signal
	// LogPath is the log file, "" when output was discarded.
	LogPath string
	// Tail is the end of the program's output.
	Tail string
}

// Error implements error.
func (e *ExitError) Error() string {
	var b strings.Builder
	b.WriteString(e.Program)
	if e.Signal != 0 {
		fmt.Fprintf(&b, " was killed by signal %v", e.Signal)
	} else {
		fmt.Fprintf(&b, " exited with status %d", e.Code)
	}
	writeTail(&b, e.LogPath, e.Tail)
	return b.String()
}

// Is makes errors.Is(err, ErrExit) true.
func (e *ExitError) Is(target error) bool { return target == ErrExit }

// TimeoutError reports a run that was killed because it exceeded Cmd.Timeout.
type TimeoutError struct {
	Program string
	Timeout time.Duration
	LogPath string
	Tail    string
}

// Error implements error.
func (e *TimeoutError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s timed out after %v and was killed with its child processes", e.Program, e.Timeout)
	writeTail(&b, e.LogPath, e.Tail)
	return b.String()
}

// Is makes errors.Is(err, ErrTimeout) true.
func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

func writeTail(b *strings.Builder, logPath, tail string) {
	if logPath != "" {
		fmt.Fprintf(b, " (log: %s)", logPath)
	}
	if t := strings.TrimSpace(tail); t != "" {
		b.WriteString("; last output:\n")
		b.WriteString(t)
	}
}

// Getenv returns the value of key in env ("KEY=value" entries, the last one winning), and
// whether it is set.
func Getenv(env []string, key string) (string, bool) {
	val, ok := "", false
	for _, kv := range env {
		if k, v, found := strings.Cut(kv, "="); found && k == key {
			val, ok = v, true
		}
	}
	return val, ok
}

// LookPath resolves a program the way Run does: a name containing a slash must be an executable
// file; any other name is searched on the PATH of env (nil = the process environment).
func LookPath(program string, env []string) (string, error) {
	if env == nil {
		env = os.Environ()
	}
	if program == "" {
		return "", &NotFoundError{Program: "(empty program name)"}
	}
	if strings.ContainsRune(program, '/') {
		if isExecutable(program) {
			return program, nil
		}
		return "", &NotFoundError{Program: program}
	}
	path, _ := Getenv(env, "PATH")
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, program)
		if isExecutable(p) {
			if !filepath.IsAbs(p) {
				if abs, err := filepath.Abs(p); err == nil {
					p = abs
				}
			}
			return p, nil
		}
	}
	return "", &NotFoundError{Program: program}
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// CommandLine renders a program and its arguments as one shell-quoted line, for logs and manifests.
func CommandLine(program string, args []string) string {
	parts := make([]string, 0, len(args)+1)
	parts = append(parts, ShellQuote(program))
	for _, a := range args {
		parts = append(parts, ShellQuote(a))
	}
	return strings.Join(parts, " ")
}

// ShellQuote quotes s for a POSIX shell when it holds anything but safe characters.
func ShellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Run starts the program, waits for it and returns how it went. On timeout or when ctx ends, the
// program's whole process group gets SIGTERM, then SIGKILL once Grace has passed and any of
// its processes are still alive. Processes of the group left behind by a program that exited on
// its own (orphaned workers) are killed too, so no run leaves anything running.
//
// The error is a *NotFoundError, an *ExitError, a *TimeoutError, ctx.Err() wrapped with the
// program name on cancellation, or another error when the log or the process cannot be set up.
func Run(ctx context.Context, c Cmd) (*Result, error) {
	env := c.Env
	if env == nil {
		env = os.Environ()
	}
	name := c.Name
	if name == "" {
		name = c.Path
	}
	path, err := LookPath(c.Path, env)
	if err != nil {
		var nf *NotFoundError
		if errors.As(err, &nf) {
			nf.Hint = c.Hint
		}
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s not started: %w", name, err)
	}

	var logFile *os.File
	var logStart int64
	ring := &tailBuffer{max: tailBytes}
	if c.LogPath != "" {
		if err := os.MkdirAll(filepath.Dir(c.LogPath), 0o755); err != nil {
			return nil, fmt.Errorf("log folder for %s: %w", name, err)
		}
		logFile, err = os.OpenFile(c.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("log file for %s: %w", name, err)
		}
		defer logFile.Close()
		if st, err := logFile.Stat(); err == nil {
			logStart = st.Size()
		}
		fmt.Fprintf(logFile, "# %s $ %s\n", time.Now().UTC().Format(time.RFC3339), CommandLine(path, c.Args))
		if c.Dir != "" {
			fmt.Fprintf(logFile, "# in %s\n", c.Dir)
		}
	}

	cmd := exec.Command(path, c.Args...)
	cmd.Args[0] = c.Path
	cmd.Env = env
	cmd.Dir = c.Dir
	// A file is handed to the child directly (no copying goroutine), so Wait never blocks on
	// grandchildren that keep the descriptors open; the ring keeps the tail for error messages
	// only when output is discarded.
	if logFile != nil {
		cmd.Stdout, cmd.Stderr = logFile, logFile
	} else {
		cmd.Stdout, cmd.Stderr = ring, ring
	}
	if c.Stdout != nil {
		cmd.Stdout = c.Stdout
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = time.Second

	start := time.Now()
	if err := cmd.Start(); err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.ENOEXEC) {
			return nil, &NotFoundError{Program: name, Hint: c.Hint}
		}
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var timeout <-chan time.Time
	if c.Timeout > 0 {
		t := time.NewTimer(c.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	grace := c.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}

	var waitErr error
	var stopped error // why the run was stopped, nil when it ended on its own
	select {
	case waitErr = <-done:
		if errors.Is(waitErr, exec.ErrWaitDelay) {
			// Exited with status 0, but a leftover process kept the output pipe open.
			waitErr = nil
		}
		// Ended on its own; orphaned group members (workers the program did not reap) must
		// not outlive the run.
		syscall.Kill(-pgid, syscall.SIGKILL)
	case <-timeout:
		stopped = ErrTimeout
		waitErr = terminateGroup(pgid, done, grace)
	case <-ctx.Done():
		stopped = ctx.Err()
		waitErr = terminateGroup(pgid, done, grace)
	}
	res := &Result{Path: path, Duration: time.Since(start)}

	tail := func() string {
		if logFile != nil {
			fmt.Fprintf(logFile, "# %s exit: %s after %v\n", time.Now().UTC().Format(time.RFC3339), exitText(waitErr, stopped), res.Duration.Round(time.Millisecond))
			return readTail(c.LogPath, logStart)
		}
		return ring.String()
	}
	switch {
	case stopped == ErrTimeout:
		return res, &TimeoutError{Program: name, Timeout: c.Timeout, LogPath: c.LogPath, Tail: tail()}
	case stopped != nil:
		tail()
		return res, fmt.Errorf("%s stopped: %w", name, stopped)
	case waitErr != nil:
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) {
			xe := &ExitError{Program: name, Code: ee.ExitCode(), LogPath: c.LogPath}
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				xe.Signal = ws.Signal()
			}
			xe.Tail = tail()
			return res, xe
		}
		tail()
		return res, fmt.Errorf("%s: %w", name, waitErr)
	}
	if logFile != nil {
		fmt.Fprintf(logFile, "# %s exit: 0 after %v\n", time.Now().UTC().Format(time.RFC3339), res.Duration.Round(time.Millisecond))
	}
	return res, nil
}

func exitText(waitErr, stopped error) string {
	switch {
	case stopped == ErrTimeout:
		return "timed out, killed"
	case stopped != nil:
		return "cancelled, killed"
	case waitErr != nil:
		return waitErr.Error()
	}
	return "0"
}

// terminateGroup sends SIGTERM to the process group, waits up to grace for every member to end,
// then sends SIGKILL to whatever is left, and returns the leader's Wait error.
func terminateGroup(pgid int, done <-chan error, grace time.Duration) error {
	syscall.Kill(-pgid, syscall.SIGTERM)
	var waitErr error
	leaderDone := false
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case waitErr = <-done:
			leaderDone = true
			if !groupAlive(pgid) {
				break wait
			}
		case <-tick.C:
			if leaderDone && !groupAlive(pgid) {
				break wait
			}
		case <-deadline.C:
			break wait
		}
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	if !leaderDone {
		waitErr = <-done
	}
	return waitErr
}

// groupAlive tells whether any process of the group still exists.
func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}

// readTail returns the end of the log written since offset.
func readTail(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	from := max(offset, st.Size()-tailBytes)
	buf := make([]byte, st.Size()-from)
	n, _ := f.ReadAt(buf, from)
	return cleanTail(buf[:n], from > offset)
}

// cleanTail drops the pipeline's own "# ..." lines and a partial first line.
func cleanTail(b []byte, cut bool) string {
	if cut {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "# ") {
			continue
		}
		lines = append(lines, l)
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// tailBuffer keeps the last max bytes written to it; it is safe for the two writers exec
// uses when stdout and stderr are the same writer (exec serialises them through one pipe).
type tailBuffer struct {
	max int
	buf []byte
}

// Write implements io.Writer.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String is the kept tail without the pipeline's own lines.
func (t *tailBuffer) String() string { return cleanTail(t.buf, false) }
