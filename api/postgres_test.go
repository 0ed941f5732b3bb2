package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
)

// postgresTestName is the name of the test under which openStore opens
// Postgres stores.
const postgresTestName = "TestPostgres"

// onPostgres reports whether t runs under TestPostgres, whose subtests are
// named after the tests they rerun: TestPostgres/TestCreatePlan/....
func onPostgres(t *testing.T) bool {
	return strings.HasPrefix(t.Name(), postgresTestName+"/")
}

// postgresTests are the tests that TestPostgres runs again over Postgres.
// Every test of the package that serves the API over a store belongs
// here; TestEveryTestRunsOnPostgres checks that none is forgotten.
var postgresTests = map[string]func(*testing.T){
	"TestDashboardIsServedBesideTheAPI":                          TestDashboardIsServedBesideTheAPI,
	"TestQueueStatsPickupLatency":                                TestQueueStatsPickupLatency,
	"TestOverview":                                               TestOverview,
	"TestOverviewRecentIsCappedAndPagesFollowLinkHeader":         TestOverviewRecentIsCappedAndPagesFollowLinkHeader,
	"TestOverviewRejectsBadParameters":                           TestOverviewRejectsBadParameters,
	"TestListJobsNewestFirstWithFiltersAndLinkHeader":            TestListJobsNewestFirstWithFiltersAndLinkHeader,
	"TestListJobsRejectsBadParameters":                           TestListJobsRejectsBadParameters,
	"TestPlanAndGlobalStats":                                     TestPlanAndGlobalStats,
	"TestStatsDefaultWindowAndBucket":                            TestStatsDefaultWindowAndBucket,
	"TestStatsRejectBadParameters":                               TestStatsRejectBadParameters,
	"TestListExecutionsBySinceUntilAndLabel":                     TestListExecutionsBySinceUntilAndLabel,
	"TestScheduleLifecycle":                                      TestScheduleLifecycle,
	"TestCreateScheduleRejectsBadFieldsAndWritesNothing":         TestCreateScheduleRejectsBadFieldsAndWritesNothing,
	"TestScheduleMinIntervalIsConfigurable":                      TestScheduleMinIntervalIsConfigurable,
	"TestListSchedulesFiltersByPlanAndFollowsLinkHeader":         TestListSchedulesFiltersByPlanAndFollowsLinkHeader,
	"TestDeletingAPlanDeletesItsSchedules":                       TestDeletingAPlanDeletesItsSchedules,
	"TestEnvironmentLifecycle":                                   TestEnvironmentLifecycle,
	"TestEnvironmentValidationWritesNothing":                     TestEnvironmentValidationWritesNothing,
	"TestListEnvironmentsPaginationFollowsLinkHeader":            TestListEnvironmentsPaginationFollowsLinkHeader,
	"TestExecutePlanWithRunInputs":                               TestExecutePlanWithRunInputs,
	"TestExecutePlanWithoutBodySendsEveryField":                  TestExecutePlanWithoutBodySendsEveryField,
	"TestExecutePlanRejectsBadRunInputsAndWritesNothing":         TestExecutePlanRejectsBadRunInputsAndWritesNothing,
	"TestExecutePlanReplayIgnoresANewBody":                       TestExecutePlanReplayIgnoresANewBody,
	"TestListExecutionsByTriggerAndSchedule":                     TestListExecutionsByTriggerAndSchedule,
	"TestExecutePlanTrigger":                                     TestExecutePlanTrigger,
	"TestAuthOffWithoutToken":                                    TestAuthOffWithoutToken,
	"TestAuthRequiredWhenTokenSet":                               TestAuthRequiredWhenTokenSet,
	"TestBodyOnExecuteIsParsed":                                  TestBodyOnExecuteIsParsed,
	"TestCancelFinishedExecutionConflicts":                       TestCancelFinishedExecutionConflicts,
	"TestCancelOfARunningExecutionTellsWorkersAtOnce":            TestCancelOfARunningExecutionTellsWorkersAtOnce,
	"TestCancelOfAQueuedExecutionLogsItsEnd":                     TestCancelOfAQueuedExecutionLogsItsEnd,
	"TestCascadeDeleteOfAPlanTellsWorkersAtOnce":                 TestCascadeDeleteOfAPlanTellsWorkersAtOnce,
	"TestCancelQueuedExecution":                                  TestCancelQueuedExecution,
	"TestCancelRunningExecutionFlagsItsJob":                      TestCancelRunningExecutionFlagsItsJob,
	"TestCreatePlan":                                             TestCreatePlan,
	"TestMetricsEndpoint":                                        TestMetricsEndpoint,
	"TestMetricsNotRoutedWithoutHandler":                         TestMetricsNotRoutedWithoutHandler,
	"TestPlanRetention":                                          TestPlanRetention,
	"TestPlanRetentionValidation":                                TestPlanRetentionValidation,
	"TestCreatePlanBodyTooLarge":                                 TestCreatePlanBodyTooLarge,
	"TestCreatePlanDuplicateNameConflicts":                       TestCreatePlanDuplicateNameConflicts,
	"TestCreatePlanEnvAllow":                                     TestCreatePlanEnvAllow,
	"TestCreatePlanRejectsInvalidDocumentAndWritesNothing":       TestCreatePlanRejectsInvalidDocumentAndWritesNothing,
	"TestCreatePlanSchemaErrors":                                 TestCreatePlanSchemaErrors,
	"TestCreatePlanWithoutLabelsAnswersEmptyObject":              TestCreatePlanWithoutLabelsAnswersEmptyObject,
	"TestCursorOfAnotherListing":                                 TestCursorOfAnotherListing,
	"TestDeletePlan":                                             TestDeletePlan,
	"TestDeletePlanWithExecutions":                               TestDeletePlanWithExecutions,
	"TestDocsPageServedFromBinary":                               TestDocsPageServedFromBinary,
	"TestDotSegmentsNeverReachAHandler":                          TestDotSegmentsNeverReachAHandler,
	"TestDuplicateKeysLastOneWins":                               TestDuplicateKeysLastOneWins,
	"TestEverySingleCharacterFlipOfACursor":                      TestEverySingleCharacterFlipOfACursor,
	"TestEveryTruncationOfAValidBodyIsRejected":                  TestEveryTruncationOfAValidBodyIsRejected,
	"TestExecutePlanConcurrentIdempotentRequests":                TestExecutePlanConcurrentIdempotentRequests,
	"TestExecutePlanConcurrentRequestsShareATransaction":         TestExecutePlanConcurrentRequestsShareATransaction,
	"TestExecutePlanRerunStartsAfresh":                           TestExecutePlanRerunStartsAfresh,
	"TestExecutePlanCreatesExecutionAndJob":                      TestExecutePlanCreatesExecutionAndJob,
	"TestExecutePlanFailingEnqueueLeavesNoExecution":             TestExecutePlanFailingEnqueueLeavesNoExecution,
	"TestExecutePlanIdempotencyKey":                              TestExecutePlanIdempotencyKey,
	"TestExecutePlanLosingIdempotencyRaceReturnsWinner":          TestExecutePlanLosingIdempotencyRaceReturnsWinner,
	"TestExecutePlanRejectsBadIdempotencyKey":                    TestExecutePlanRejectsBadIdempotencyKey,
	"TestExecutePlanUnknownPlanWritesNothing":                    TestExecutePlanUnknownPlanWritesNothing,
	"TestExecutePlanUsesCurrentRevision":                         TestExecutePlanUsesCurrentRevision,
	"TestGetExecutionErrors":                                     TestGetExecutionErrors,
	"TestGetJob":                                                 TestGetJob,
	"TestGetJobShowsCleanErrors":                                 TestGetJobShowsCleanErrors,
	"TestGetJobErrors":                                           TestGetJobErrors,
	"TestGetPlanErrors":                                          TestGetPlanErrors,
	"TestHealthz":                                                TestHealthz,
	"TestHostileBodiesAreRejectedAndWriteNothing":                TestHostileBodiesAreRejectedAndWriteNothing,
	"TestHostileHeadersOnWrites":                                 TestHostileHeadersOnWrites,
	"TestHostileIDsInPaths":                                      TestHostileIDsInPaths,
	"TestHostileQueryParameters":                                 TestHostileQueryParameters,
	"TestListExecutions":                                         TestListExecutions,
	"TestListExecutionsRejectsBadParameters":                     TestListExecutionsRejectsBadParameters,
	"TestListPlansDefaultsAndEmpty":                              TestListPlansDefaultsAndEmpty,
	"TestListPlansPaginationFollowsLinkHeader":                   TestListPlansPaginationFollowsLinkHeader,
	"TestListPlansRejectsBadParameters":                          TestListPlansRejectsBadParameters,
	"TestMalformedChunkedBodyIsA400":                             TestMalformedChunkedBodyIsA400,
	"TestPlanFieldsRejectNUL":                                    TestPlanFieldsRejectNUL,
	"TestNestingDepthLimit":                                      TestNestingDepthLimit,
	"TestSecretRoutesWithoutAKeyAnswer409":                       TestSecretRoutesWithoutAKeyAnswer409,
	"TestSecretPutListDelete":                                    TestSecretPutListDelete,
	"TestSecretPutRejects":                                       TestSecretPutRejects,
	"TestPlanWithUnknownSecretIsRejected":                        TestPlanWithUnknownSecretIsRejected,
	"TestPlanWithSecretWithoutAKeyIsRejected":                    TestPlanWithSecretWithoutAKeyIsRejected,
	"TestPanicGivesBare500":                                      TestPanicGivesBare500,
	"TestQueueStats":                                             TestQueueStats,
	"TestReadyz":                                                 TestReadyz,
	"TestReadyzStoreDown":                                        TestReadyzStoreDown,
	"TestRegisterWithHumatest":                                   TestRegisterWithHumatest,
	"TestReportOfAnExecutionWithoutResultIsAConflict":            TestReportOfAnExecutionWithoutResultIsAConflict,
	"TestRequestID":                                              TestRequestID,
	"TestRequestLog":                                             TestRequestLog,
	"TestSQLMetacharactersAreData":                               TestSQLMetacharactersAreData,
	"TestSpecRoutes":                                             TestSpecRoutes,
	"TestStorageErrorsDoNotLeak":                                 TestStorageErrorsDoNotLeak,
	"TestStorageUnavailableGives503":                             TestStorageUnavailableGives503,
	"TestUnknownQueryParametersAreRejectedEverywhere":            TestUnknownQueryParametersAreRejectedEverywhere,
	"TestUnknownRoutesAreProblems":                               TestUnknownRoutesAreProblems,
	"TestValidationErrorsEchoBoundedValues":                      TestValidationErrorsEchoBoundedValues,
	"TestValidationErrorsBoundLocations":                         TestValidationErrorsBoundLocations,
	"TestUpdatePlan":                                             TestUpdatePlan,
	"TestUpdatePlanFailuresWriteNothing":                         TestUpdatePlanFailuresWriteNothing,
	"TestSchemaLinkNamesTheRequestsHost":                         TestSchemaLinkNamesTheRequestsHost,
	"TestErrorsCarryASchemaLinkToo":                              TestErrorsCarryASchemaLinkToo,
	"TestQueuedExecutionSendsNullResultAndItsJobID":              TestQueuedExecutionSendsNullResultAndItsJobID,
	"TestReportPaths":                                            TestReportPaths,
	"TestStatusShorthandIsAcceptedAndAnsweredAsAnArray":          TestStatusShorthandIsAcceptedAndAnsweredAsAnArray,
	"TestUpdateWithoutIfMatchIs428WhileTheSpecRequiresIt":        TestUpdateWithoutIfMatchIs428WhileTheSpecRequiresIt,
	"TestOpenAPI30WritesNullableReferencesThe30Way":              TestOpenAPI30WritesNullableReferencesThe30Way,
	"TestResumeOfAScheduleThatNoLongerParsesAnswers422":          TestResumeOfAScheduleThatNoLongerParsesAnswers422,
	"TestDeletingAnEnvironmentUsedBySchedulesConflicts":          TestDeletingAnEnvironmentUsedBySchedulesConflicts,
	"TestExecutePlanChecksVariablesOfAPlanThatFailsItsOwnChecks": TestExecutePlanChecksVariablesOfAPlanThatFailsItsOwnChecks,
	"TestSecretPutAfterAKeyRotationAnswers409":                   TestSecretPutAfterAKeyRotationAnswers409,
	"TestChannelLifecycle":                                       TestChannelLifecycle,
	"TestChannelWriteOnlyValuesNeverAppear":                      TestChannelWriteOnlyValuesNeverAppear,
	"TestChannelUpdateKeepsOrClearsWriteOnlyFields":              TestChannelUpdateKeepsOrClearsWriteOnlyFields,
	"TestCreateChannelRejectsBadFieldsAndWritesNothing":          TestCreateChannelRejectsBadFieldsAndWritesNothing,
	"TestChannelURLMustPassTheNetworkPolicy":                     TestChannelURLMustPassTheNetworkPolicy,
	"TestChannelURLDefaultPolicy":                                TestChannelURLDefaultPolicy,
	"TestListChannelsFollowsLinkHeader":                          TestListChannelsFollowsLinkHeader,
	"TestDeletingAChannelThatRulesUseConflicts":                  TestDeletingAChannelThatRulesUseConflicts,
	"TestChannelDeliveriesListing":                               TestChannelDeliveriesListing,
	"TestTestChannel":                                            TestTestChannel,
	"TestAlertWebhookIsDescribed":                                TestAlertWebhookIsDescribed,
	"TestAlertRuleLifecycle":                                     TestAlertRuleLifecycle,
	"TestCreateAlertRuleRejectsBadFieldsAndWritesNothing":        TestCreateAlertRuleRejectsBadFieldsAndWritesNothing,
	"TestUpdateAlertRuleRejectsBadFieldsAndWritesNothing":        TestUpdateAlertRuleRejectsBadFieldsAndWritesNothing,
	"TestListAlertRulesFiltersAndFollowsLinkHeader":              TestListAlertRulesFiltersAndFollowsLinkHeader,
	// Tracing (issue 15).
	"TestTracingFollowsAnExecutionFromRequestToTarget":        TestTracingFollowsAnExecutionFromRequestToTarget,
	"TestTracingOffSendsNoTraceparentAndStoresNoTraceContext": TestTracingOffSendsNoTraceparentAndStoresNoTraceContext,
	"TestTracingNamesRequestsByRouteTemplate":                 TestTracingNamesRequestsByRouteTemplate,
	"TestTracingDoesNotNameSpansForUnknownMethods":            TestTracingDoesNotNameSpansForUnknownMethods,
}

// notOnPostgres are the tests that TestPostgres leaves out, with the
// reason.
var notOnPostgres = map[string]string{
	"TestNextLink":                      "pure, no store",
	"TestMain":                          "the package's entry point",
	postgresTestName:                    "runs the others",
	"TestEveryTestRunsOnPostgres":       "reads the source, touches no store",
	"TestRunPlanEndToEndMemory":         "has its own Postgres twin",
	"TestRunPlanEndToEndPostgres":       "opens Postgres itself",
	"TestBoundValue":                    "pure, no store",
	"TestBoundProblemKeepsTheBodySmall": "pure, no store",
	"TestCleanJobError":                 "pure, no store",
	"TestJSONDepthOver":                 "pure, no store",
	"TestToHTTPError":                   "pure mapping, no store",
	"TestParseIfMatch":                  "pure parsing, no store",
	"TestParseLabelFilter":              "pure parsing, no store",
	"TestIsPublic":                      "pure, no store",
	"TestBearerToken":                   "pure parsing, no store",
	"TestValidRequestID":                "pure, no store",
	"TestWithTimeoutSetsDeadline":       "middleware only, no store",
	"TestOpenAPISpecIsCurrent":          "spec only, no store",
	"TestSpecIsDeterministic":           "spec only, no store",
	"TestOperationsFollowConventions":   "spec only, no store",
	"TestSchemaFieldsHaveDocAndExample": "spec only, no store",
	"TestConfig":                        "configuration only, no store",
	"TestWantsJUnit":                    "pure, no store",
	// Added with the CLI (issue 12); neither reads the store.
	"TestParsePlanBodyAgreesWithCreatePlan":     "validation only; the plan is never read back",
	"TestHealthProbesAreLoggedAtDebug":          "request log only",
	"TestSpecSaysWhatTheServerSends":            "spec only, no store",
	"TestAlertDocumentSchemasAcceptAddedFields": "spec only, no store",
}

// TestPostgres reruns the API tests over Postgres, each test with a schema
// of its own (internal/pgtest). Without a database (TEST_DATABASE_URL or a
// Docker engine) it is skipped, or fails when ASTRO_REQUIRE_POSTGRES=1.
func TestPostgres(t *testing.T) {
	t.Parallel()
	pgtest.URL(t) // Skips or fails here, once, when there is no database.
	names := make([]string, 0, len(postgresTests))
	for name := range postgresTests {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, postgresTests[name])
	}
}

// TestEveryTestRunsOnPostgres fails when a test of the package is neither
// in postgresTests nor in notOnPostgres, so that a new API test cannot
// silently run over SQLite only.
func TestEveryTestRunsOnPostgres(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*_test.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	var missing []string
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !strings.HasPrefix(fd.Name.Name, "Test") {
				continue
			}
			if _, ok := postgresTests[fd.Name.Name]; ok {
				continue
			}
			if _, ok := notOnPostgres[fd.Name.Name]; !ok {
				missing = append(missing, fd.Name.Name)
			}
		}
	}
	require.Empty(t, missing, "add these tests to postgresTests (or to notOnPostgres with a reason)")
}
