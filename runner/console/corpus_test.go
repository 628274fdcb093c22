package console

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tuxboot/tuxboot/runner/boot"
)

// expectation is the labelled analysis of one corpus log: NAME.json
// beside NAME.log.
type expectation struct {
	Arch          string         `json:"arch"`
	Category      string         `json:"category"` // clean, tests or crash
	Note          string         `json:"note"`
	Options       *corpusOptions `json:"options"`
	KernelVersion string         `json:"kernel_version"`
	Milestones    []string       `json:"milestones"`
	LastMilestone string         `json:"last_milestone"`
	BootOK        bool           `json:"boot_ok"`
	Failure       *boot.Failure  `json:"failure"`
	Crashes       []corpusCrash  `json:"crashes"`
	Tests         []corpusTest   `json:"tests"`
}

type corpusOptions struct {
	Fatal []string `json:"fatal"`
}

type corpusCrash struct {
	Kind  string `json:"kind"`
	Title string `json:"title"`
	Fatal bool   `json:"fatal"`
}

type corpusTest struct {
	Suite  string `json:"suite"`
	Name   string `json:"name"`
	Result string `json:"result"`
}

// actual reduces a Summary to what a corpus expectation states.
func actual(s Summary) expectation {
	e := expectation{
		KernelVersion: s.KernelVersion,
		LastMilestone: s.LastMilestone(),
		BootOK:        s.BootOK(),
		Failure:       s.Failure,
		Milestones:    []string{},
		Crashes:       []corpusCrash{},
		Tests:         []corpusTest{},
	}
	for _, m := range s.Milestones {
		e.Milestones = append(e.Milestones, m.Name)
	}
	for _, c := range s.Crashes {
		e.Crashes = append(e.Crashes, corpusCrash{c.Kind, c.Title, c.Fatal})
	}
	for _, t := range s.Tests {
		e.Tests = append(e.Tests, corpusTest{t.Suite, t.Name, t.Result})
	}
	return e
}

func loadCorpus(t *testing.T) []string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	return logs
}

func readExpectation(t *testing.T, log string) expectation {
	t.Helper()
	b, err := os.ReadFile(strings.TrimSuffix(log, ".log") + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var e expectation
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%s: %v", log, err)
	}
	if e.Milestones == nil {
		e.Milestones = []string{}
	}
	if e.Crashes == nil {
		e.Crashes = []corpusCrash{}
	}
	if e.Tests == nil {
		e.Tests = []corpusTest{}
	}
	return e
}

// analyse runs the analyser over log in chunks of the sizes next gives.
func analyse(log []byte, opts Options, next func() int) Summary {
	a := New(opts)
	for p := log; len(p) > 0; {
		n := min(next(), len(p))
		a.Write(p[:n])
		p = p[n:]
	}
	a.Close()
	return a.Summary()
}

// TestCorpus runs every labelled log, whole and in random chunks, and
// compares the analysis with its label.
func TestCorpus(t *testing.T) {
	for _, path := range loadCorpus(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".log")
		t.Run(name, func(t *testing.T) {
			log, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want := readExpectation(t, path)
			var opts Options
			if want.Options != nil {
				opts.Fatal = want.Options.Fatal
			}
			rng := rand.New(rand.NewPCG(uint64(len(log)), 1))
			reads := []struct {
				name string
				next func() int
			}{
				{"whole", func() int { return len(log) }},
				{"bytes", func() int { return 1 }},
				{"random", func() int { return 1 + rng.IntN(200) }},
			}
			for _, r := range reads {
				got := actual(analyse(log, opts, r.next))
				want := want
				want.Arch, want.Category, want.Note, want.Options = "", "", "", nil
				if !reflect.DeepEqual(got, want) {
					gj, _ := json.MarshalIndent(got, "", "  ")
					wj, _ := json.MarshalIndent(want, "", "  ")
					t.Fatalf("%s reads:\ngot  %s\nwant %s", r.name, gj, wj)
				}
			}
		})
	}
}

// TestCorpusVerdicts checks the corpus as a whole: no clean boot may
// fail, every crashing boot must, and the corpus must cover every crash
// kind, enough architectures, clean boots and test logs.
func TestCorpusVerdicts(t *testing.T) {
	kinds := map[string]bool{}
	arches := map[string]bool{}
	count := map[string]int{}
	for _, path := range loadCorpus(t) {
		want := readExpectation(t, path)
		log, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var opts Options
		if want.Options != nil {
			opts.Fatal = want.Options.Fatal
		}
		s := analyse(log, opts, func() int { return 4096 })
		count[want.Category]++
		arches[want.Arch] = true
		for _, c := range s.Crashes {
			kinds[c.Kind] = true
		}
		switch want.Category {
		case "clean", "tests":
			if !s.BootOK() || s.Failure != nil {
				t.Errorf("%s: false failure on a good boot: boot_ok=%v failure=%+v", path, s.BootOK(), s.Failure)
			}
			if want.Category == "clean" && len(s.Crashes) > 0 {
				t.Errorf("%s: crashes on a clean boot: %+v", path, s.Crashes[0].Title)
			}
		case "crash":
			if len(s.Crashes) == 0 {
				t.Errorf("%s: no crash found in a crashing boot", path)
			}
			if !want.BootOK && (s.BootOK() || s.Failure == nil) {
				t.Errorf("%s: false pass on a failed boot", path)
			}
		default:
			t.Errorf("%s: unknown category %q", path, want.Category)
		}
	}
	for _, k := range Kinds() {
		if !kinds[k] {
			t.Errorf("no corpus log shows a crash of kind %s", k)
		}
	}
	if len(arches) < 8 || count["clean"] < 15 || count["tests"] < 10 || count["clean"]+count["tests"]+count["crash"] < 80 {
		t.Errorf("corpus too small: %d architectures, %v", len(arches), count)
	}
	t.Logf("corpus: %d architectures, %v", len(arches), count)
}

// TestCorpusLinesMatchFile checks that crash and milestone lines point at
// the right line of the file (counting LF like an editor does).
func TestCorpusLinesMatchFile(t *testing.T) {
	for _, path := range loadCorpus(t) {
		log, _ := os.ReadFile(path)
		lines := bytes.Split(log, []byte("\n"))
		s := analyse(log, Options{}, func() int { return len(log) })
		for _, c := range s.Crashes {
			if c.Kind == KindFirmwareError || c.Kind == KindReboot {
				continue
			}
			if c.Line < 1 || c.Line > len(lines) {
				t.Errorf("%s: crash %q at line %d of %d", path, c.Title, c.Line, len(lines))
			}
		}
		if s.Lines != bytes.Count(log, []byte("\n"))+boolInt(len(log) > 0 && log[len(log)-1] != '\n') {
			t.Errorf("%s: %d lines counted", path, s.Lines)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
