package call

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hotline-12345/hotline/cases"
	"github.com/hotline-12345/hotline/ivr"
	"github.com/hotline-12345/hotline/media"
	"github.com/hotline-12345/hotline/recordings"
)

// messageRecorder takes the messages of IVR record nodes (after hours, "leave your
// request after the beep") as recordings of their own, caller on the left, and notes each
// in the call's work order.
type messageRecorder struct {
	store *recordings.Store
	cw    *caseWriter
	n     atomic.Int32
}

var _ ivr.Recorder = (*messageRecorder)(nil)

func (m *messageRecorder) StartMessage(ctx context.Context, info ivr.MessageInfo) (ivr.Message, error) {
	if m.store == nil {
		return nil, errors.New("call: recordings are not configured")
	}
	id := fmt.Sprintf("%s-msg%d", info.CallID, m.n.Add(1))
	rec, err := m.store.Start(id, time.Now())
	if err != nil {
		return nil, err
	}
	return &message{rec: rec, sink: rec.Left(), cw: m.cw, node: info.Node}, nil
}

type message struct {
	rec  *recordings.Recorder
	sink media.Sink
	cw   *caseWriter
	node string
}

func (m *message) WriteFrame(c media.Codec, p []byte) { m.sink.WriteFrame(c, p) }
func (m *message) Ref() string                        { return m.rec.Path() }

func (m *message) Close() error {
	info, err := m.rec.Close()
	m.cw.add(cases.EventRecording, info.Duration.Milliseconds(), map[string]any{
		"path": info.Path, "duration_ms": info.Duration.Milliseconds(), "kind": "message", "node": m.node})
	return err
}
