package console

import (
	"bytes"

	"github.com/tuxboot/tuxboot/runner/boot"
)

// Defaults for the caps of Options.
const (
	DefaultMaxLineBytes   = 16 << 10
	DefaultMaxReportBytes = 64 << 10
)

// Caps on what a Summary holds, so that a torrent of output cannot grow
// it without bound.
const (
	MaxCrashes     = 100   // distinct crash reports kept
	MaxTests       = 20000 // test results kept
	maxReportLines = 1000  // a report open longer than this is closed
	maxTitleBytes  = 200
	maxNameBytes   = 200
	maxFragBytes   = 1024 // a LAVA signal cut by kernel output
)

// Event kinds.
const (
	EventMilestone     = "milestone"
	EventCrash         = "crash"
	EventTest          = "test"
	EventKernelVersion = "kernel_version"
)

// Options configure an Analyzer. The zero value is ready to use.
type Options struct {
	// Fatal lists crash kinds that fail the boot beyond the default
	// ones (for example "warning"); "all" makes every kind fatal.
	Fatal []string
	// MaxLineBytes caps a console line; the rest of a longer line is
	// dropped and the Summary marked Truncated. Default 16 KiB.
	MaxLineBytes int
	// MaxReportBytes caps the text of one crash report; a longer report
	// is cut and marked Truncated. Default 64 KiB.
	MaxReportBytes int
	// OnEvent, if set, is called synchronously, in console order, from
	// Write and Close.
	OnEvent func(Event)
}

// Event is one finding. Crash events come when their report closes (at
// its end marker, the next report, Flush or Close); Line is where it
// began.
type Event struct {
	Kind          string // EventMilestone, EventCrash, EventTest or EventKernelVersion
	Line          int    // 1-based console line
	Milestone     string
	Crash         *boot.Crash
	Test          *boot.Test
	KernelVersion string
}

// Analyzer is the streaming console analyser. Create it with New.
type Analyzer struct {
	opts     Options
	fatal    map[string]bool
	allFatal bool

	buf     []byte // the unfinished segment of the current line
	line    int    // number of the line being read, 1-based
	midLine bool   // bytes of the current line have been read
	closed  bool
	scratch []byte // escape-free copy of a segment

	sum        Summary
	reached    milestoneSet
	crashKeys  map[string]bool // kind + title of the crashes kept
	logChecks  map[string]bool // kinds with a log-parser test
	fatalSeen  bool            // a fatal crash was reported
	rep        *report         // the open crash report
	pre        preamble        // lines that may start a report
	frag       []byte          // a LAVA signal cut by a kernel line
	lava       lavaState       //
	ktap       ktapState       //
	fwErr      *boot.Crash     // firmware error, held until the kernel starts
	oomLine    int             // line of the last "invoked oom-killer"
	rebootSeen bool            // a reboot was already judged
	stamped    bool            // a line with a printk prefix went by
}

// New returns an Analyzer with opts.
func New(opts Options) *Analyzer {
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = DefaultMaxLineBytes
	}
	if opts.MaxReportBytes <= 0 {
		opts.MaxReportBytes = DefaultMaxReportBytes
	}
	a := &Analyzer{
		opts:      opts,
		fatal:     make(map[string]bool),
		line:      1,
		crashKeys: make(map[string]bool),
		logChecks: make(map[string]bool),
	}
	for _, k := range opts.Fatal {
		if k == "all" {
			a.allFatal = true
		}
		a.fatal[k] = true
	}
	return a
}

// Write analyses p, a piece of the console. It never fails; after Close
// it ignores p.
func (a *Analyzer) Write(p []byte) (int, error) {
	n := len(p)
	if a.closed {
		return n, nil
	}
	for len(p) > 0 {
		a.midLine = true
		lf := bytes.IndexByte(p, '\n')
		seg := p
		if lf >= 0 {
			seg = p[:lf]
		}
		// Carriage returns split a line into segments, each analysed on
		// its own: a lone CR is how consoles overwrite a line.
		for {
			cr := bytes.IndexByte(seg, '\r')
			if cr < 0 {
				break
			}
			a.endSegment(seg[:cr])
			seg = seg[cr+1:]
		}
		if lf < 0 {
			a.appendPartial(seg)
			break
		}
		a.endSegment(seg)
		a.line++
		a.midLine = false
		p = p[lf+1:]
	}
	if len(a.buf) > 0 {
		a.partialPrompt(a.buf)
	}
	return n, nil
}

// appendPartial keeps the unfinished end of a line for the next Write.
func (a *Analyzer) appendPartial(seg []byte) {
	room := a.opts.MaxLineBytes - len(a.buf)
	if len(seg) > room {
		seg = seg[:max(room, 0)]
		a.sum.Truncated = true
	}
	a.buf = append(a.buf, seg...)
}

// endSegment analyses a complete segment: the buffered start of it, if
// any, followed by seg.
func (a *Analyzer) endSegment(seg []byte) {
	if len(a.buf) > 0 {
		a.appendPartial(seg)
		seg = a.buf
		a.buf = a.buf[:0]
	} else if len(seg) > a.opts.MaxLineBytes {
		seg = seg[:a.opts.MaxLineBytes]
		a.sum.Truncated = true
	}
	if len(seg) == 0 {
		return
	}
	if bytes.IndexByte(seg, 0x1b) >= 0 {
		a.scratch = stripANSI(a.scratch[:0], seg)
		seg = a.scratch
	}
	for len(seg) > 0 {
		text, pfx := stripPrefix(seg)
		rest := []byte(nil)
		if i := midTimestamp(text); i > 0 {
			text, rest = text[:i], text[i:]
		}
		a.text(text, pfx)
		seg = rest
	}
	if cap(a.buf) > 4*a.opts.MaxLineBytes {
		a.buf = nil // do not keep a huge buffer for one long line
	}
}

// Close analyses a final unfinished line and closes any open report.
// The Summary is complete after it.
func (a *Analyzer) Close() error {
	if a.closed {
		return nil
	}
	if len(a.buf) > 0 {
		a.endSegment(nil)
	}
	if a.frag != nil {
		a.flushFrag()
	}
	a.closeReport()
	if a.fwErr != nil {
		c := *a.fwErr
		a.fwErr = nil
		a.addCrash(c)
	}
	a.sum.Lines = a.line - 1
	if a.midLine {
		a.sum.Lines++
	}
	a.closed = true
	return nil
}

// Flush tells the analyser that the console has gone quiet while a crash
// report is open, so the report is as complete as it will get. A report
// that ends only at a marker or at the line after its stack trace waits
// for that line; a guest that stopped in its panic (s390 stops in the
// panic notifier, before the "---[ end Kernel panic" line) never prints
// it. Flush closes the open report, which emits its crash event, and
// says whether a report was open. An unfinished line is analysed first, as
// it stands, as a segment of its line (as a lone CR ends one): what
// follows it on the same line, if anything ever does, is the next
// segment. With no report open, Flush does nothing, so that a slow
// writer's half line (a LAVA signal, a prompt) is left to finish.
//
// Call it when no console byte has come for a while (the runner waits
// 2 s), from the goroutine that writes or with writes excluded. A
// report's later lines then stand alone: an end marker or a "Fatal
// exception" panic that follows is not counted again.
func (a *Analyzer) Flush() bool {
	if a.closed || a.rep == nil {
		return false
	}
	if len(a.buf) > 0 {
		// It may end the report, or close it and open the next.
		a.endSegment(nil)
	}
	a.closeReport()
	return true
}

// Summary returns what the analyser found so far. A report still open is
// not in it; after Close it is complete.
func (a *Analyzer) Summary() Summary {
	s := a.sum
	if !a.closed {
		s.Lines = a.line - 1
		if a.midLine {
			s.Lines++
		}
	}
	s.Milestones = append([]boot.Milestone(nil), s.Milestones...)
	s.Crashes = append([]boot.Crash(nil), s.Crashes...)
	s.Tests = append([]boot.Test(nil), s.Tests...)
	if s.Failure != nil {
		f := *s.Failure
		s.Failure = &f
	}
	return s
}

func (a *Analyzer) emit(e Event) {
	if a.opts.OnEvent != nil {
		a.opts.OnEvent(e)
	}
}

// isFatal says whether a crash of kind fails the boot.
func (a *Analyzer) isFatal(kind string) bool {
	return defaultFatal[kind] || a.allFatal || a.fatal[kind]
}
