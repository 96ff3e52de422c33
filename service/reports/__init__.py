"""Reports people read: columns with their labels and units, and the workbook every XLSX report is."""
