package reporting

// ReportSQL and ReportSettings expose the report query to the benchmark, which explains the
// query it times.
var (
	ReportSQL      = reportSQL
	ReportSettings = sqlReportSettings
)
