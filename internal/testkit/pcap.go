package testkit

import (
	"encoding/binary"
	"fmt"
	"os"
)

// WritePCMUPcap writes pcm as a pcap of 20 ms PCMU RTP packets over UDP/IPv4 (one
// packet every 20 ms of capture time), the format SIPp's play_pcap_audio replays
// with its own pacing. SIPp rewrites addresses and ports; sequence numbers and
// timestamps are ours. A final partial frame is padded with silence.
func WritePCMUPcap(path string, pcm []int16) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // LINKTYPE_ETHERNET
	if _, err := f.Write(hdr); err != nil {
		f.Close()
		return err
	}
	const ssrc = 0x484f544c // "HOTL"
	frame := make([]int16, 160)
	pkt := make([]byte, 14+20+8+12+160)
	rec := make([]byte, 16)
	for i, off := 0, 0; off < len(pcm); i, off = i+1, off+160 {
		n := copy(frame, pcm[off:])
		clear(frame[n:])
		// Ethernet
		clear(pkt[:12])
		binary.BigEndian.PutUint16(pkt[12:], 0x0800)
		// IPv4 127.0.0.1 → 127.0.0.1
		ip := pkt[14:34]
		ip[0] = 0x45
		ip[1] = 0
		binary.BigEndian.PutUint16(ip[2:], uint16(20+8+12+160))
		binary.BigEndian.PutUint16(ip[4:], uint16(i))
		binary.BigEndian.PutUint16(ip[6:], 0)
		ip[8] = 64
		ip[9] = 17
		binary.BigEndian.PutUint16(ip[10:], 0)
		copy(ip[12:], []byte{127, 0, 0, 1})
		copy(ip[16:], []byte{127, 0, 0, 1})
		binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
		// UDP (checksum 0: optional over IPv4)
		udp := pkt[34:42]
		binary.BigEndian.PutUint16(udp[0:], 6000)
		binary.BigEndian.PutUint16(udp[2:], 6000)
		binary.BigEndian.PutUint16(udp[4:], uint16(8+12+160))
		binary.BigEndian.PutUint16(udp[6:], 0)
		// RTP
		r := pkt[42:54]
		r[0] = 0x80
		r[1] = 0
		if i == 0 {
			r[1] = 0x80 // marker: start of talkspurt
		}
		binary.BigEndian.PutUint16(r[2:], uint16(i))
		binary.BigEndian.PutUint32(r[4:], uint32(i*160))
		binary.BigEndian.PutUint32(r[8:], ssrc)
		copy(pkt[54:], EncodeG711(0, frame))
		usec := i * 20000
		binary.LittleEndian.PutUint32(rec[0:], uint32(usec/1e6))
		binary.LittleEndian.PutUint32(rec[4:], uint32(usec%1e6))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(pkt)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(pkt)))
		if _, err := f.Write(rec); err != nil {
			f.Close()
			return err
		}
		if _, err := f.Write(pkt); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("testkit: write pcap: %w", err)
	}
	return nil
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// WriteUL writes pcm as headerless μ-law, the format SIPp's rtp_stream plays.
func WriteUL(path string, pcm []int16) error {
	return os.WriteFile(path, EncodeG711(0, pcm), 0o644)
}
