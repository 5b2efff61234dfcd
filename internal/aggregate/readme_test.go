package aggregate

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/dvh"
	"github.com/rtpipeline/rtpipeline/internal/organize"
	radstage "github.com/rtpipeline/rtpipeline/internal/radiomics/stage"
)

var update = flag.Bool("update", false, "rewrite testdata/README.golden.md")

// TestReadmeGolden checks _RESULTS/README.md of the fixture against testdata/README.golden.md
// (go test ./internal/aggregate -run ReadmeGolden -update rewrites it).
func TestReadmeGolden(t *testing.T) {
	out := writeFixture(t)
	runFixture(t, out, 2)
	got, err := os.ReadFile(filepath.Join(out, ResultsDir, ReadmeFile))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "README.golden.md")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("README.md differs from %s (rerun with -update after checking the change)", golden)
	}
}

// TestReadmeDocumentsEveryColumn checks that every column of every written table has a README
// row with a description, and every known column a description.
func TestReadmeDocumentsEveryColumn(t *testing.T) {
	out := writeFixture(t)
	runFixture(t, out, 2)
	readme, err := os.ReadFile(filepath.Join(out, ResultsDir, ReadmeFile))
	if err != nil {
		t.Fatal(err)
	}
	sections := strings.Split(string(readme), "\n## ")
	for _, def := range Tables() {
		i := slices.IndexFunc(sections, func(s string) bool { return strings.HasPrefix(s, def.Name+"\n") })
		if i < 0 {
			t.Fatalf("no README section for %s", def.Name)
		}
		recs := readCSVFile(t, filepath.Join(out, ResultsDir, def.Name+".csv"))
		for _, c := range recs[0] {
			row := "| " + mdCode(c) + " | "
			j := strings.Index(sections[i], row)
			if j < 0 {
				t.Errorf("%s: column %q not documented", def.Name, c)
				continue
			}
			line, _, _ := strings.Cut(sections[i][j:], "\n")
			if parts := strings.Split(line, " | "); len(parts) < 3 || len(strings.TrimSpace(strings.TrimSuffix(parts[2], "|"))) < 3 {
				t.Errorf("%s: column %q has no description: %s", def.Name, c, line)
			}
		}
		seen := map[string]bool{}
		for _, c := range def.Columns {
			if seen[c.Name] {
				t.Errorf("%s: column %q defined twice", def.Name, c.Name)
			}
			seen[c.Name] = true
			if len(c.Desc) < 3 {
				t.Errorf("%s: column %q has no description", def.Name, c.Name)
			}
		}
	}
}

// TestColumnsMatchStages checks the known columns and sentinels against the stage packages that
// write the course tables, so a column added there cannot go undocumented here.
func TestColumnsMatchStages(t *testing.T) {
	if got, want := columnNames(tableDef("dvh_metrics").Columns), dvh.Columns(); !slices.Equal(got, want) {
		t.Errorf("dvh_metrics columns differ from dvh.Columns():\n got %v\nwant %v", got, want)
	}
	if vxGyMax != dvh.VxGyMax {
		t.Errorf("vxGyMax %d, dvh.VxGyMax %d", vxGyMax, dvh.VxGyMax)
	}
	if got, want := columnNames(tableDef("radiomics_ct").Columns), radstage.CTIdentityColumns; !slices.Equal(got, want) {
		t.Errorf("radiomics_ct identity columns:\n got %v\nwant %v", got, want)
	}
	if got, want := columnNames(tableDef("radiomics_mr").Columns), radstage.MRIdentityColumns; !slices.Equal(got, want) {
		t.Errorf("radiomics_mr identity columns:\n got %v\nwant %v", got, want)
	}
	if got, want := columnNames(tableDef("fractions").Columns), organize.FractionColumns; !slices.Equal(got, want) {
		t.Errorf("fractions columns:\n got %v\nwant %v", got, want)
	}
	for _, s := range []string{dvh.SourcePlanRTSTRUCT, dvh.SourceManual, dvh.SourceCustom, dvh.SourceAutoRTS} {
		if !slices.Contains(dvhSources, s) {
			t.Errorf("DVH source %s has no priority", s)
		}
	}
	want := map[string]string{"organize": organize.Sentinel, "dvh": dvh.Sentinel, "radiomics": radstage.Sentinel, "qc": ".qc_done"}
	for _, st := range Stages {
		if want[st.Name] != st.Sentinel {
			t.Errorf("stage %s: sentinel %q, want %q", st.Name, st.Sentinel, want[st.Name])
		}
	}
	// Every radiomics feature key form is described and typed as a number.
	for _, name := range []string{"original_shape_MeshVolume", "log-sigma-1-0-mm-3D_firstorder_Mean", "wavelet-HLL_glszm_ZoneEntropy", "original_shape2D_Elongation"} {
		if k, d := radiomicsExtra(name); k != Float || d == genericExtra {
			t.Errorf("%s: %v %q", name, k, d)
		}
	}
	if k, _ := radiomicsExtra("diagnostics_Image-original_Mean"); k != Text {
		t.Errorf("diagnostics are text, got %v", k)
	}
}
