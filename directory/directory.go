package directory

import (
	"time"

	"github.com/jmoiron/sqlx"
)

// Role is what a user may do in its tenant.
type Role string

// The roles, from most to least powerful.
const (
	RoleAdmin      Role = "admin"
	RoleSupervisor Role = "supervisor"
	RoleAgent      Role = "agent"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	return r == RoleAdmin || r == RoleSupervisor || r == RoleAgent
}

// Status is an agent's availability for new work.
type Status string

// The agent statuses; only StatusAvailable receives new offers.
const (
	StatusAvailable    Status = "available"
	StatusAway         Status = "away"
	StatusOffline      Status = "offline"
	StatusMissedChat   Status = "missed_chat"
	StatusUnresponsive Status = "unresponsive"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusAvailable, StatusAway, StatusOffline, StatusMissedChat, StatusUnresponsive:
		return true
	}
	return false
}

// Channel is a kind of work a user can be given.
type Channel string

// The channels; sms and voice are on for a user unless turned off.
const (
	ChannelSMS       Channel = "sms"
	ChannelVoice     Channel = "voice"
	ChannelWhatsApp  Channel = "whatsapp"
	ChannelMessenger Channel = "messenger"
	ChannelInstagram Channel = "instagram"
)

// Channels lists every channel in display order.
var Channels = []Channel{ChannelSMS, ChannelVoice, ChannelWhatsApp, ChannelMessenger, ChannelInstagram}

// Valid reports whether c is a known channel.
func (c Channel) Valid() bool {
	for _, k := range Channels {
		if c == k {
			return true
		}
	}
	return false
}

// DefaultEnabled reports whether a user has c on when nothing was set for them.
func (c Channel) DefaultEnabled() bool {
	return c == ChannelSMS || c == ChannelVoice
}

// DefaultCapacity is a new tenant's default capacity for c.
func (c Channel) DefaultCapacity() int {
	if c == ChannelVoice {
		return 1
	}
	return 4
}

// Principal is the authenticated caller of an API request.
type Principal struct {
	TenantID string
	UserID   string
	Role     Role
	KeyID    string
}

// Store is the directory's PostgreSQL store.
type Store struct {
	db      *sqlx.DB
	nowFunc func() time.Time
}

// NewStore returns a store over db; nowFunc is the clock (time.Now when nil).
func NewStore(db *sqlx.DB, nowFunc func() time.Time) *Store {
	if nowFunc == nil {
		nowFunc = time.Now
	}
	return &Store{db: db, nowFunc: nowFunc}
}

func (s *Store) now() time.Time { return s.nowFunc().UTC() }
