"""Reports: summary.json, the terminal table, JUnit, HTML, comparisons."""
