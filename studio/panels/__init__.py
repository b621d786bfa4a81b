"""Studio panels that are not tabs: blocks built inside a tab (or above the tabs) by the tab that shows them."""
