package artefact

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The "newc" cpio format, the one the kernel unpacks into its initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst): each entry
// is a 110-byte header of "070701" and 13 eight-digit hex fields, the NUL
// terminated name padded to 4 bytes, and the data padded to 4 bytes. An
// archive ends with an entry named "TRAILER!!!".

const (
	cpioMagic     = "070701"
	cpioMagicCRC  = "070702" // same layout, with a checksum we do not check
	cpioHeaderLen = 110
	cpioTrailer   = "TRAILER!!!"
	cpioNlinkOff  = 6 + 4*8 // offset of the nlink field in a header
	cpioMaxSize   = 1<<32 - 1
)

// File type bits of a cpio mode, as in stat(2).
const (
	modeType    = 0o170000
	modeDir     = 0o040000
	modeReg     = 0o100000
	modeSymlink = 0o120000
	modeChar    = 0o020000
	modeBlock   = 0o060000
	modeFIFO    = 0o010000
)

// cpioHeader is one newc entry; uid and gid are always 0 (root) when
// written.
type cpioHeader struct {
	Name      string
	Mode      uint32 // file type and permission bits
	Ino       uint32
	Nlink     uint32
	Mtime     int64
	Size      int64
	RdevMajor uint32
	RdevMinor uint32
}

// cpioWriter writes a newc archive.
type cpioWriter struct {
	w      io.Writer
	off    int64 // bytes written so far
	remain int64 // data still due for the current entry
	pad    int64 // padding due after the current entry's data
}

// pad4 is how many bytes bring n to a multiple of 4.
func pad4(n int64) int64 { return (4 - n%4) % 4 }

var zeros [4]byte

// WriteHeader starts an entry and returns the archive offset of its
// header. The entry's Size bytes of data follow with Write.
func (w *cpioWriter) WriteHeader(h *cpioHeader) (int64, error) {
	if w.remain != 0 {
		return 0, fmt.Errorf("cpio: %d bytes of the previous entry missing", w.remain)
	}
	if h.Size < 0 || h.Size > cpioMaxSize {
		return 0, fmt.Errorf("cpio: %s: size %d does not fit the newc format", h.Name, h.Size)
	}
	if err := w.writeRaw(zeros[:w.pad]); err != nil {
		return 0, err
	}
	off := w.off
	nlink := h.Nlink
	if nlink == 0 {
		nlink = 1
	}
	mtime := uint32(max(h.Mtime, 0))
	hdr := fmt.Sprintf("%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		cpioMagic, h.Ino, h.Mode, 0, 0, nlink, mtime, h.Size,
		0, 0, h.RdevMajor, h.RdevMinor, len(h.Name)+1, 0)
	name := h.Name + "\x00"
	if err := w.writeRaw([]byte(hdr + name)); err != nil {
		return 0, err
	}
	if err := w.writeRaw(zeros[:pad4(int64(cpioHeaderLen+len(name)))]); err != nil {
		return 0, err
	}
	w.remain, w.pad = h.Size, pad4(h.Size)
	return off, nil
}

// Write writes data of the current entry.
func (w *cpioWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > w.remain {
		return 0, errors.New("cpio: write past the entry's size")
	}
	n, err := w.w.Write(p)
	w.off += int64(n)
	w.remain -= int64(n)
	return n, err
}

// Close writes the trailer. It does not close the underlying writer.
func (w *cpioWriter) Close() error {
	if _, err := w.WriteHeader(&cpioHeader{Name: cpioTrailer}); err != nil {
		return err
	}
	// Pad the archive to 512 bytes as cpio(1) does; the kernel skips
	// zeros between archives.
	return w.writeRaw(make([]byte, (512-w.off%512)%512))
}

func (w *cpioWriter) writeRaw(p []byte) error {
	n, err := w.w.Write(p)
	w.off += int64(n)
	return err
}

// cpioReader reads concatenated newc archives, as the kernel does: zero
// padding between archives is skipped.
type cpioReader struct {
	r      *bufio.Reader
	remain int64 // unread data of the current entry
	pad    int64
	off    int64 // input bytes consumed
}

// discard skips n input bytes.
func (r *cpioReader) discard(n int64) error {
	d, err := r.r.Discard(int(n))
	r.off += int64(d)
	return err
}

func newCPIOReader(r io.Reader) *cpioReader {
	return &cpioReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next entry, skipping trailers. It returns io.EOF at
// the end of the input, and errNotCPIO when it reaches bytes that start
// no archive (a compressed segment, for example).
func (r *cpioReader) Next() (*cpioHeader, error) {
	for {
		if err := r.discard(r.remain + r.pad); err != nil {
			return nil, truncated(err)
		}
		r.remain, r.pad = 0, 0
		// Zeros may pad one archive before the next.
		for {
			b, err := r.r.Peek(1)
			if err != nil {
				return nil, err // io.EOF: the end
			}
			if b[0] != 0 {
				break
			}
			r.discard(1)
		}
		raw, err := r.r.Peek(cpioHeaderLen)
		if err != nil || (string(raw[:6]) != cpioMagic && string(raw[:6]) != cpioMagicCRC) {
			return nil, errNotCPIO
		}
		var f [13]uint64
		for i := range f {
			v, err := strconv.ParseUint(string(raw[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				return nil, fmt.Errorf("cpio: bad header field %q", raw[6+8*i:14+8*i])
			}
			f[i] = v
		}
		r.discard(cpioHeaderLen)
		namesize := int64(f[11])
		if namesize == 0 || namesize > 4096 {
			return nil, fmt.Errorf("cpio: bad name size %d", namesize)
		}
		name := make([]byte, namesize)
		n, err := io.ReadFull(r.r, name)
		r.off += int64(n)
		if err != nil {
			return nil, truncated(err)
		}
		if err := r.discard(pad4(cpioHeaderLen + namesize)); err != nil {
			return nil, truncated(err)
		}
		h := &cpioHeader{
			Name: string(name[:namesize-1]), Ino: uint32(f[0]), Mode: uint32(f[1]),
			Nlink: uint32(f[4]), Mtime: int64(f[5]), Size: int64(f[6]),
			RdevMajor: uint32(f[9]), RdevMinor: uint32(f[10]),
		}
		r.remain, r.pad = h.Size, pad4(h.Size)
		if h.Name == cpioTrailer {
			continue
		}
		return h, nil
	}
}

// Read reads the current entry's data.
func (r *cpioReader) Read(p []byte) (int, error) {
	if r.remain == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.remain {
		p = p[:r.remain]
	}
	n, err := r.r.Read(p)
	r.remain -= int64(n)
	r.off += int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// errNotCPIO says the input goes on with something other than a newc
// archive.
var errNotCPIO = errors.New("not a newc cpio archive")

func truncated(err error) error {
	if err == io.EOF {
		return fmt.Errorf("cpio: %w", io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("cpio: %w", err)
}
