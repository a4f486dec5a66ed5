-- The first load errors of the failed COPY, for the error the state machine reports.
SELECT query_id, file_name, line_number, column_name, error_code, error_message
FROM sys_load_error_detail
ORDER BY start_time DESC
LIMIT 5;
