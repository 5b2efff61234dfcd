package aggregate

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

// htmlElement is a start tag of the report with its attributes.
type htmlElement struct {
	name  string
	attrs map[string]string
}

// parseReport checks that the report is well-formed (as XML: every element closed and nested,
// only numeric character references) and returns its start tags and text.
func parseReport(t *testing.T, data []byte) ([]htmlElement, string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	var els []htmlElement
	var text strings.Builder
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("report.html is not well-formed: %v", err)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			depth++
			e := htmlElement{name: x.Name.Local, attrs: map[string]string{}}
			for _, a := range x.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			els = append(els, e)
		case xml.EndElement:
			depth--
		case xml.CharData:
			text.Write(x)
		}
	}
	if depth != 0 || len(els) == 0 || els[0].name != "html" {
		t.Fatalf("report.html: depth %d, first element %v", depth, els[:min(1, len(els))])
	}
	return els, text.String()
}

func TestReportWellFormedAndSelfContained(t *testing.T) {
	out := writeFixture(t)
	res := runFixture(t, out, 2)
	data, err := os.ReadFile(filepath.Join(out, ResultsDir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	els, text := parseReport(t, data)
	var imgs []string
	hrefs := map[string]bool{}
	ids := map[string]bool{}
	for _, e := range els {
		switch e.name {
		case "script", "link", "iframe", "object", "embed":
			t.Errorf("report has a <%s> element", e.name)
		}
		for k, v := range e.attrs {
			if k == "id" {
				if ids[v] {
					t.Errorf("duplicate id %q", v)
				}
				ids[v] = true
			}
			if k != "src" && k != "href" {
				continue
			}
			low := strings.ToLower(strings.TrimSpace(v))
			if strings.Contains(low, "://") || strings.HasPrefix(low, "//") || strings.HasPrefix(low, "javascript:") {
				t.Errorf("external reference %s=%q", k, v)
			}
			if k == "src" {
				if e.name != "img" || !strings.HasPrefix(v, "data:image/png;base64,") {
					t.Errorf("%s src %q is not a data: PNG", e.name, v[:min(40, len(v))])
				}
				imgs = append(imgs, v)
			} else {
				hrefs[v] = true
			}
		}
	}
	// Anchors point at ids of the page.
	for h := range hrefs {
		if id, ok := strings.CutPrefix(h, "#"); ok && !ids[id] {
			t.Errorf("link %s has no target", h)
		}
	}
	if regexp.MustCompile(`url\(|@import`).Match(data) {
		t.Error("CSS loads a resource")
	}
	// The DVH plots of A/B and P1 (dvh ok), not P2's stale plot (dvh failed) nor P3's.
	if len(imgs) != 2 {
		t.Fatalf("%d images, want 2", len(imgs))
	}
	for i, seed := range []int{2, 3} {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(imgs[i], "data:image/png;base64,"))
		if err != nil || !bytes.Equal(raw, testPNG(t, seed)) {
			t.Errorf("image %d is not the course's dvh.png (%v)", i, err)
		}
	}
	// Links to every table file, relative.
	for _, s := range res.Tables {
		for _, f := range s.Files {
			if !hrefs[f] {
				t.Errorf("no link to %s", f)
			}
		}
	}
	if !hrefs[ReadmeFile] || !hrefs[SummaryFile] {
		t.Error("no link to README.md or the summary")
	}
	// Text is escaped: the QC message with markup reads as text, and no raw tag is in the file.
	if !strings.Contains(text, "<script>alert('x')</script> & FoR differ") || bytes.Contains(data, []byte("<script>")) {
		t.Error("QC message not shown escaped")
	}
	// QC problems: FAIL first (A/B, the second course), then WARNING (P2, the first course).
	fail := strings.Index(text, "frame_of_reference.match")
	warn := strings.Index(text, "dose.units")
	if fail < 0 || warn < 0 || fail > warn {
		t.Errorf("QC problems not FAIL first (FAIL at %d, WARNING at %d)", fail, warn)
	}
	if strings.Contains(text, "stale.check") || strings.Contains(text, "plan.rx") {
		t.Error("the report lists a stale QC check or a non-problem check as a problem")
	}
	for _, want := range []string{"A/B", "2020-03", "dvh: failed: dose: boom", "organize: failed: disk full", "4", "patients"} {
		if !strings.Contains(text, want) {
			t.Errorf("report text lacks %q", want)
		}
	}
}

// TestReportInChromium renders the report in headless Chromium: it must produce a non-trivial
// screenshot, and the browser log must show no console message (the report has no scripts, so
// any is an error), no uncaught error, no failed load and no network request of the page (name
// resolution is blocked; requests are read from Chromium's --v=1 log).
func TestReportInChromium(t *testing.T) {
	chromium := testutil.Tool(t, "chromium")
	out := writeFixture(t)
	runFixture(t, out, 2)
	report := filepath.Join(out, ResultsDir, ReportFile)
	shot := filepath.Join(t.TempDir(), "report.png")
	log, dom := renderInChromium(t, chromium, report, shot)
	for _, bad := range []string{":CONSOLE", "Uncaught", "console.error", "Failed to load"} {
		if strings.Contains(log, bad) {
			t.Errorf("browser log has %q:\n%s", bad, grepLines(log, bad))
		}
	}
	if reqs := pageRequests(log); len(reqs) > 0 {
		t.Errorf("the report made network requests: %v", reqs)
	}
	if keep := os.Getenv("RTPIPELINE_KEEP_SCREENSHOT"); keep != "" {
		// A copy to look at: RTPIPELINE_KEEP_SCREENSHOT=/tmp/report.png go test -run InChromium
		if data, err := os.ReadFile(shot); err == nil {
			os.WriteFile(keep, data, 0o644)
		}
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, log)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if b.Dx() < 800 || b.Dy() < 600 {
		t.Errorf("screenshot %v", b)
	}
	colors := map[[4]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			colors[[4]uint32{r, g, bl, a}] = true
		}
	}
	if len(colors) < 20 {
		t.Errorf("screenshot looks blank (%d colours)", len(colors))
	}
	// The rendered DOM holds the sections and both plots.
	for _, want := range []string{"Cohort summary", "QC overview", "Result tables", "DVH plots"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
	if n := strings.Count(dom, `src="data:image/png;base64,`); n != 2 {
		t.Errorf("rendered DOM has %d data: images, want 2", n)
	}
}

// renderInChromium takes a screenshot of a local HTML file and dumps its DOM; it returns the
// browser's log (stderr of both runs) and the DOM.
func renderInChromium(t *testing.T, chromium, page, shot string) (string, string) {
	t.Helper()
	common := []string{"--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage", "--no-first-run",
		"--hide-scrollbars", "--enable-logging=stderr", "--v=1", "--host-resolver-rules=MAP * ~NOTFOUND",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,2400"}
	url := "file://" + filepath.ToSlash(page)
	var log strings.Builder
	runOne := func(extra ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium, append(append(append([]string{}, common...), extra...), url)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", extra, err, stderr.String())
		}
		log.WriteString(stderr.String())
		return stdout.String()
	}
	runOne("--screenshot=" + shot)
	dom := runOne("--dump-dom")
	return log.String(), dom
}

// requestLine is how Chromium (--v=1) logs every URL request.
var requestLine = regexp.MustCompile(`NotifyBeforeURLRequest: (\S+)`)

// browserHosts are hosts Chromium itself contacts in the background (time, updates, accounts).
var browserHosts = regexp.MustCompile(`^https?://([a-z0-9.-]+\.)?(google\.com|googleapis\.com|gvt1\.com|gstatic\.com|googleusercontent\.com)(:\d+)?/`)

// pageRequests returns the network (http, https, ws) requests of a Chromium log that the
// browser's own background services do not explain.
func pageRequests(log string) []string {
	var out []string
	for _, m := range requestLine.FindAllStringSubmatch(log, -1) {
		u := m[1]
		if strings.HasPrefix(u, "file:") || strings.HasPrefix(u, "data:") || strings.HasPrefix(u, "chrome") || browserHosts.MatchString(u) {
			continue
		}
		out = append(out, u)
	}
	return out
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestChromiumCheckSeesErrors makes sure the log checks of TestReportInChromium are not
// vacuous: a page with a script error and an external image shows both in the log.
func TestChromiumCheckSeesErrors(t *testing.T) {
	chromium := testutil.Tool(t, "chromium")
	dir := t.TempDir()
	page := filepath.Join(dir, "bad.html")
	writeFile(t, page, []byte(`<!DOCTYPE html><html><head><meta charset="utf-8" /><title>bad</title></head><body>`+
		`<img src="http://example.invalid/x.png" /><script>console.error("boom"); notDefined();</script></body></html>`))
	log, _ := renderInChromium(t, chromium, page, filepath.Join(dir, "bad.png"))
	for _, want := range []string{":CONSOLE", "Uncaught"} {
		if !strings.Contains(log, want) {
			t.Errorf("log of a broken page lacks %q:\n%s", want, log)
		}
	}
	// One request per run (screenshot, DOM dump).
	if reqs := pageRequests(log); len(reqs) == 0 || slices.ContainsFunc(reqs, func(u string) bool { return u != "http://example.invalid/x.png" }) {
		t.Errorf("requests of a page with an external image: %v", reqs)
	}
}
