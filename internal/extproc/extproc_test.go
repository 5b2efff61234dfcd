package extproc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// script writes an executable shell script named name into dir and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// envWithPath is the test process's environment with PATH replaced by dir:/usr/bin:/bin.
func envWithPath(dir string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	env = append(env, "PATH="+dir+":/usr/bin:/bin")
	return append(env, extra...)
}

// alive tells whether pid is a live (not zombie) process.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// readPIDs waits until file holds n pids (one per line) and returns them.
func readPIDs(t *testing.T, file string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(file)
		fields := strings.Fields(string(data))
		if len(fields) >= n {
			var pids []int
			for _, f := range fields[:n] {
				p, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("pid file %s: %q", file, data)
				}
				pids = append(pids, p)
			}
			return pids
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("pid file %s never got %d pids", file, n)
	return nil
}

func waitDead(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range pids {
		for alive(p) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if alive(p) {
			syscall.Kill(p, syscall.SIGKILL)
			t.Errorf("process %d survived", p)
		}
	}
}

func TestRunArgsEnvDirAndLog(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	work := t.TempDir()
	script(t, bin, "echoer", `echo "args:$1|$2"; echo "foo:$FOO"; echo "pwd:$(pwd)"; echo "to stderr" >&2`)
	log := filepath.Join(t.TempDir(), "logs", "run.log")
	res, err := Run(context.Background(), Cmd{Path: "echoer", Args: []string{"a b", "c"}, Env: envWithPath(bin, "FOO=bar"), Dir: work, LogPath: log})
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != filepath.Join(bin, "echoer") {
		t.Errorf("resolved %q", res.Path)
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	got := string(data)
	for _, want := range []string{"$ " + filepath.Join(bin, "echoer") + " 'a b' c\n", "args:a b|c\n", "foo:bar\n", "pwd:" + work + "\n", "to stderr\n", "exit: 0 after"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	// A second run appends.
	if _, err := Run(context.Background(), Cmd{Path: "echoer", Env: envWithPath(bin), LogPath: log}); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(log)
	if strings.Count(string(data), "exit: 0") != 2 {
		t.Errorf("log not appended:\n%s", data)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	_, err := Run(context.Background(), Cmd{Path: "no-such-program-xyz", Env: envWithPath(t.TempDir()), Hint: "install it with `pip install xyz` or set tool.path"})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	if want := "no-such-program-xyz not found on PATH; install it with `pip install xyz` or set tool.path"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	_, err = Run(context.Background(), Cmd{Path: "/nonexistent/dir/prog"})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "/nonexistent/dir/prog not found or not executable") {
		t.Errorf("err = %v", err)
	}
	// A file that is not executable is not a program.
	p := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(p, []byte("#!/bin/sh\n"), 0o644)
	if _, err := LookPath(p, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("non-executable file: %v", err)
	}
}

func TestExitErrorQuotesLogTail(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	script(t, bin, "failer", `i=0; while [ $i -lt 2000 ]; do echo "noise line $i"; i=$((i+1)); done; echo "CUDA out of memory" >&2; exit 3`)
	log := filepath.Join(t.TempDir(), "f.log")
	_, err := Run(context.Background(), Cmd{Path: "failer", Env: envWithPath(bin), LogPath: log})
	var xe *ExitError
	if !errors.As(err, &xe) || !errors.Is(err, ErrExit) {
		t.Fatalf("err = %v", err)
	}
	if xe.Code != 3 || !strings.HasSuffix(xe.Tail, "CUDA out of memory") || len(xe.Tail) > tailBytes {
		t.Errorf("code %d, tail (%d bytes) ends %q", xe.Code, len(xe.Tail), xe.Tail[max(0, len(xe.Tail)-40):])
	}
	if !strings.Contains(err.Error(), "failer exited with status 3 (log: "+log+"); last output:") {
		t.Errorf("message: %.200s", err)
	}
	// Discarded output still gives the tail.
	_, err = Run(context.Background(), Cmd{Path: "failer", Env: envWithPath(bin)})
	if !errors.As(err, &xe) || !strings.HasSuffix(xe.Tail, "CUDA out of memory") {
		t.Errorf("without log: %v", err)
	}
}

// hangScript starts a child that ignores SIGTERM, records both pids and hangs; with stubborn,
// the script itself ignores SIGTERM too.
func hangScript(t *testing.T, dir string, stubborn bool) string {
	trap := ""
	if stubborn {
		trap = "trap '' TERM\n"
	}
	return script(t, dir, "hanger", trap+`pidfile=$1
sh -c 'trap "" TERM; echo $$ >> '"$pidfile"'; while :; do sleep 1; done' &
echo $$ >> "$pidfile"
while :; do sleep 1; done
`)
}

func TestTimeoutKillsWholeGroup(t *testing.T) {
	t.Parallel()
	for _, stubborn := range []bool{false, true} {
		bin := t.TempDir()
		hangScript(t, bin, stubborn)
		pidfile := filepath.Join(bin, "pids")
		log := filepath.Join(bin, "h.log")
		start := time.Now()
		_, err := Run(context.Background(), Cmd{Path: "hanger", Args: []string{pidfile}, Env: envWithPath(bin), LogPath: log, Timeout: time.Second, Grace: 300 * time.Millisecond})
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("stubborn=%v: err = %v", stubborn, err)
		}
		if !strings.Contains(err.Error(), "hanger timed out after 1s and was killed with its child processes") {
			t.Errorf("message %q", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
		waitDead(t, readPIDs(t, pidfile, 2))
		data, _ := os.ReadFile(log)
		if !strings.Contains(string(data), "exit: timed out, killed") {
			t.Errorf("log:\n%s", data)
		}
	}
}

func TestCancelKillsWholeGroup(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	hangScript(t, bin, true)
	pidfile := filepath.Join(bin, "pids")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Cmd{Path: "hanger", Args: []string{pidfile}, Env: envWithPath(bin), Grace: 200 * time.Millisecond})
		errc <- err
	}()
	pids := readPIDs(t, pidfile, 2)
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
	waitDead(t, pids)
	// A cancelled context does not start anything.
	if _, err := Run(ctx, Cmd{Path: "hanger", Env: envWithPath(bin)}); !errors.Is(err, context.Canceled) {
		t.Errorf("start after cancel: %v", err)
	}
}

func TestOrphansOfFinishedRunAreKilled(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	pidfile := filepath.Join(bin, "pids")
	script(t, bin, "leaver", `sh -c 'echo $$ >> '"$1"'; exec sleep 1000' > /dev/null 2>&1 &
sleep 0.2
exit 0`)
	if _, err := Run(context.Background(), Cmd{Path: "leaver", Args: []string{pidfile}, Env: envWithPath(bin)}); err != nil {
		t.Fatal(err)
	}
	waitDead(t, readPIDs(t, pidfile, 1))
}

func TestCommandLine(t *testing.T) {
	got := CommandLine("TotalSegmentator", []string{"-i", "/a b/ct.nii.gz", "--roi_subset", "liver", "it's"})
	want := `TotalSegmentator -i '/a b/ct.nii.gz' --roi_subset liver 'it'\''s'`
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if v, ok := Getenv([]string{"A=1", "B=2", "A=3"}, "A"); !ok || v != "3" {
		t.Errorf("Getenv = %q %v", v, ok)
	}
}
