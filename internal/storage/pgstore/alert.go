package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// errTODO marks the alert methods not written yet.
var errTODO = errors.New("alert storage not implemented yet")

func (s *Store) ChannelCreate(context.Context, *storage.ChannelCreateParams) (*storage.Channel, error) {
	return nil, errTODO
}
func (s *Store) ChannelGetByID(context.Context, uuid.UUID) (*storage.Channel, error) {
	return nil, errTODO
}
func (s *Store) ChannelUpdate(context.Context, *storage.ChannelUpdateParams) (*storage.Channel, error) {
	return nil, errTODO
}
func (s *Store) ChannelDelete(context.Context, uuid.UUID) error { return errTODO }
func (s *Store) ChannelList(context.Context, *storage.ChannelListParams) (*storage.ChannelPage, error) {
	return nil, errTODO
}
func (s *Store) AlertRuleCreate(context.Context, *storage.AlertRuleCreateParams) (*storage.AlertRule, error) {
	return nil, errTODO
}
func (s *Store) AlertRuleGetByID(context.Context, uuid.UUID) (*storage.AlertRule, error) {
	return nil, errTODO
}
func (s *Store) AlertRuleUpdate(context.Context, *storage.AlertRuleUpdateParams) (*storage.AlertRule, error) {
	return nil, errTODO
}
func (s *Store) AlertRuleDelete(context.Context, uuid.UUID) error { return errTODO }
func (s *Store) AlertRuleList(context.Context, *storage.AlertRuleListParams) (*storage.AlertRulePage, error) {
	return nil, errTODO
}
func (s *Store) AlertRulesFor(context.Context, uuid.UUID, uuid.UUID) ([]*storage.AlertRule, error) {
	return nil, nil
}
func (s *Store) AlertStateLock(context.Context, uuid.UUID, uuid.UUID) (*storage.AlertState, error) {
	return nil, errTODO
}
func (s *Store) AlertStatePut(context.Context, *storage.AlertState) error { return errTODO }
func (s *Store) AlertDeliveryRecord(context.Context, *storage.AlertDeliveryRecordParams) (*storage.AlertDelivery, error) {
	return nil, errTODO
}
func (s *Store) AlertDeliveryList(context.Context, *storage.AlertDeliveryListParams) (*storage.AlertDeliveryPage, error) {
	return nil, errTODO
}
func (s *Store) AlertDeliveryPrune(context.Context, time.Time, int) (int64, error) { return 0, errTODO }
